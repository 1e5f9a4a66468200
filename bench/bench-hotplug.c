/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Following udev under load (issue 5): a replayed burst of N SR-IOV VFs
 * (sriov_numvfs=N: for each VF an "add", its physfn/virtfn links, its
 * driver link and a "bind", N=256 by default, so 2N uevents) sent to
 * pci-assignd's libudev monitor on a umockdev testbed, against the same
 * run's baseline: the same burst delivered to a plain libudev monitor
 * process that only receives the events (no daemon listening).  Then the
 * daemon's RSS before and after C add/remove cycles of one function.
 *
 *   bench-hotplug --address BUS --daemon PATH --record FILE
 *                 [--vfs N] [--rounds R] [--cycles C] [--json FILE]
 *
 * Figures, per round, medians printed:
 *   burst:  first uevent sent -> last event handled (the daemon's last
 *           signal of the burst: the PropertiesChanged of the last VF
 *           after its "bind", which comes after its DriverChanged; the
 *           monitor: the last event received)
 *   tail:   last uevent sent (its sendmsg() returned: it is in the
 *           listener's queue) -> the same end; on a loaded machine the
 *           monitor's can be below 0 (it read the event before the
 *           sender got the CPU back)
 *   cpu:    the daemon's CPU time per event (all threads: /proc/PID/stat
 *           and the threads' schedstat, before and after the burst)
 * and the ratios daemon/monitor.  RSS: VmRSS after READY, after the first
 * 10% of the cycles (warm) and after all of them, each read once the
 * daemon is idle (its signals all read, then 300 ms without events).
 *
 * How the events travel: umockdev's preload makes each libudev monitor a
 * unix datagram socket $UMOCKDEV_DIR/eventN; this program sends the
 * monitor's wire format there (as tests/integration/daemon-harness.c
 * does) with a blocking socket, so that a full queue (net.unix.
 * max_dgram_qlen datagrams, 10 by default) makes the sender wait instead
 * of losing events: the burst runs at the listener's pace.  The monitor
 * baseline runs under the same preload, so both pay the same delivery.
 *
 * The VFs are made with umockdev's API before each burst (attributes,
 * config space, IOMMU group), without physfn and driver links: those
 * appear during the burst, between a VF's "add" and its "bind", as the
 * kernel makes them.  Each round has a fresh testbed and a fresh daemon.
 * In the add/remove cycles the function's directory stays: the daemon
 * reads it on "add" and never on "remove".
 *
 * This is a benchmark: it asserts nothing about time; it fails only when
 * something does not work (an event not handled, the daemon dying). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libudev.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <umockdev.h>
#include <unistd.h>

#define PRELOAD "libumockdev-preload.so.0"
#define PF_ADDR "0001:00:00.0"
#define PF_SYSPATH "/sys/devices/pci0001:00/" PF_ADDR
#define PF_GROUP 100
#define CYCLE_ADDR "0000:03:00.0"
#define CYCLE_SYSPATH "/sys/devices/pci0000:00/0000:00:08.0/" CYCLE_ADDR

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;
static void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("bench-hotplug: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

/* ---- the monitor baseline (a child under the preload) ---- */

static double self_cpu_ms(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* --monitor N: a plain libudev monitor of subsystem pci, as the daemon
 * opens it; says "ready" once it listens, then prints the monotonic times
 * of the first and the last of N events */
static int monitor_main(unsigned n) {
        struct udev *u = udev_new();
        struct udev_monitor *mon = udev_monitor_new_from_netlink(u, "udev");
        struct pollfd p;
        double first = -1, last = -1, cpu0;
        unsigned got = 0;

        if (!mon || udev_monitor_filter_add_match_subsystem_devtype(mon, "pci", NULL) < 0)
                die("monitor: cannot create the udev monitor");
        (void) udev_monitor_set_receive_buffer_size(mon, 128 * 1024 * 1024);
        if (udev_monitor_enable_receiving(mon) < 0)
                die("monitor: cannot listen");
        printf("ready\n");
        fflush(stdout);
        cpu0 = self_cpu_ms();
        p = (struct pollfd) { .fd = udev_monitor_get_fd(mon), .events = POLLIN };
        while (got < n) {
                struct udev_device *d;

                if (poll(&p, 1, 60000) <= 0)
                        die("monitor: %u of %u events came", got, n);
                while ((d = udev_monitor_receive_device(mon))) {
                        /* what any listener does with an event at least */
                        if (udev_device_get_action(d) && udev_device_get_sysname(d))
                                got++;
                        udev_device_unref(d);
                        last = now_ms();
                        if (first < 0)
                                first = last;
                }
        }
        printf("%.6f %.6f %u %.6f\n", first, last, got, self_cpu_ms() - cpu0);
        fflush(stdout);
        udev_monitor_unref(mon);
        udev_unref(u);
        return 0;
}

/* ---- sending uevents (libudev's monitor format, as umockdev sends it) ---- */

struct monitor_netlink_header {
        char prefix[8];
        guint32 magic, header_size, properties_off, properties_len;
        guint32 filter_subsystem_hash, filter_devtype_hash, filter_tag_bloom_hi, filter_tag_bloom_lo;
};

static guint32 murmur2(const char *s) {
        const guint32 m = 0x5bd1e995;
        gsize len = strlen(s);
        guint32 h = (guint32) len;
        const unsigned char *p = (const unsigned char *) s;

        for (; len >= 4; p += 4, len -= 4) {
                guint32 k;
                memcpy(&k, p, 4);
                k *= m;
                k ^= k >> 24;
                k *= m;
                h *= m;
                h ^= k;
        }
        switch (len) {
        case 3: h ^= (guint32) p[2] << 16; /* fall through */
        case 2: h ^= (guint32) p[1] << 8;  /* fall through */
        case 1: h ^= p[0]; h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

typedef struct Sender {
        const char *root;        /* testbed */
        GPtrArray *sockets;      /* listener paths, found once */
        guint64 seqnum;
        double t_sent;           /* when the last sendmsg() returned: the event is in the queue */
} Sender;

static void prop(GByteArray *b, const char *k, const char *v) {
        g_byte_array_append(b, (const guint8 *) k, (guint) strlen(k));
        g_byte_array_append(b, (const guint8 *) "=", 1);
        g_byte_array_append(b, (const guint8 *) v, (guint) strlen(v) + 1);
}

static void sender_find_listeners(Sender *s) {
        g_autoptr(GDir) d = g_dir_open(s->root, 0, NULL);
        const char *name;

        if (s->sockets)
                g_ptr_array_free(s->sockets, TRUE);
        s->sockets = g_ptr_array_new_with_free_func(g_free);
        while (d && (name = g_dir_read_name(d)))
                if (g_str_has_prefix(name, "event") && g_ascii_isdigit(name[5]))
                        g_ptr_array_add(s->sockets, g_build_filename(s->root, name, NULL));
}

/* An event of a pci device in the monitor's wire format: the device's
 * uevent file, and DRIVER= when `driver` is given (a "bind"), as the
 * kernel sends it; built ahead so that the burst only sends. */
static GBytes *build_uevent(Sender *s, const char *syspath, const char *action, const char *driver) {
        GByteArray *b = g_byte_array_new();
        g_autofree gchar *ue = g_strdup_printf("%s%s/uevent", s->root, syspath), *text = NULL, *seq = NULL;
        struct monitor_netlink_header nlh = {
                .prefix = "libudev", .magic = g_htonl(0xfeedcafe), .header_size = sizeof nlh,
                .properties_off = sizeof nlh, .filter_subsystem_hash = g_htonl(murmur2("pci")),
        };

        g_byte_array_append(b, (const guint8 *) &nlh, sizeof nlh);
        prop(b, "ACTION", action);
        prop(b, "DEVPATH", syspath + strlen("/sys"));
        prop(b, "SUBSYSTEM", "pci");
        seq = g_strdup_printf("%" G_GUINT64_FORMAT, ++s->seqnum);
        prop(b, "SEQNUM", seq);
        if (g_file_get_contents(ue, &text, NULL, NULL)) {
                g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
                for (gchar **l = lines; *l; l++) {
                        gchar *eq = strchr(*l, '=');
                        if (!eq || g_str_has_prefix(*l, "DRIVER=") || g_str_has_prefix(*l, "SUBSYSTEM="))
                                continue;
                        *eq = 0;
                        prop(b, *l, eq + 1);
                }
        }
        if (driver)
                prop(b, "DRIVER", driver);
        ((struct monitor_netlink_header *) b->data)->properties_len = b->len - (guint) sizeof nlh;
        return g_byte_array_free_to_bytes(b);
}

/* to every listener, blocking while its queue is full */
static void send_built(Sender *s, GBytes *ev) {
        gsize len;
        const void *data = g_bytes_get_data(ev, &len);

        for (guint i = 0; i < s->sockets->len; i++) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                struct timeval tv = { .tv_sec = 120 };
                int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                ssize_t n;

                g_strlcpy(sa.sun_path, s->sockets->pdata[i], sizeof sa.sun_path);
                if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
                    connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        die("cannot connect to listener %s: %s", sa.sun_path, g_strerror(errno));
                while ((n = send(fd, data, len, 0)) < 0)
                        if (errno != EINTR)
                                die("sending to %s: %s", sa.sun_path, g_strerror(errno));
                s->t_sent = now_ms();
                close(fd);
        }
}

static void send_uevent(Sender *s, const char *syspath, const char *action, const char *driver) {
        g_autoptr(GBytes) ev = build_uevent(s, syspath, action, driver);
        send_built(s, ev);
}

/* ---- the testbed ---- */

static gchar *record_config(const char *record, const char *addr) {
        g_autofree gchar *needle = g_strdup_printf("/%s\n", addr);
        const char *p = strstr(record, needle), *c, *e;

        if (!p || !(c = strstr(p, "H: config=")))
                die("no config space of %s in the recording", addr);
        c += strlen("H: config=");
        e = strchr(c, '\n');
        return g_strndup(c, (gsize) (e - c));
}

static GBytes *hex_bytes(const char *hex) {
        gsize n = strlen(hex) / 2;
        guint8 *b = g_malloc(n);

        for (gsize i = 0; i < n; i++)
                b[i] = (guint8) ((g_ascii_xdigit_value(hex[2 * i]) << 4) | g_ascii_xdigit_value(hex[2 * i + 1]));
        return g_bytes_new_take(b, n);
}

static void xsymlink(const char *target, const char *path) {
        if (symlink(target, path) < 0)
                die("symlink %s: %s", path, g_strerror(errno));
}

static void group_link(const char *root, unsigned group, const char *devpath_rel /* devices/... */,
                       const char *addr) {
        g_autofree gchar *dir = g_strdup_printf("%s/sys/kernel/iommu_groups/%u/devices", root, group);
        g_autofree gchar *link = g_build_filename(dir, addr, NULL);
        g_autofree gchar *target = g_strdup_printf("../../../../%s", devpath_rel);

        g_mkdir_with_parents(dir, 0755);
        xsymlink(target, link);
}

/* a function of subsystem pci made with umockdev's API */
static gchar *add_function(UMockdevTestbed *tb, const char *root, const char *name /* pciDDDD:BB/.../ADDR */,
                           const char *addr, const char *class_, const char *pci_class, const char *device,
                           const char *pci_id, GBytes *config, unsigned group) {
        g_autofree gchar *rel = g_strdup_printf("devices/%s", name);
        g_autofree gchar *dots = NULL, *gtarget = NULL;
        gchar *sp;
        unsigned depth = 2;     /* "devices" and the last component */

        for (const char *p = name; *p; p++)
                depth += *p == '/';
        sp = umockdev_testbed_add_device(tb, "pci", name, NULL,
                                         "vendor", pci_id[0] == '1' ? "0x1b36\n" : "0x8086\n", "device", device,
                                         "class", class_, "subsystem_vendor", "0x1af4\n",
                                         "subsystem_device", "0x1100\n", "revision", "0x02\n", "numa_node", "-1\n",
                                         "reset_method", "flr\n", "reset", "", "driver_override", "(null)\n",
                                         NULL,
                                         "PCI_CLASS", pci_class, "PCI_ID", pci_id, "PCI_SUBSYS_ID", "1AF4:1100",
                                         "PCI_SLOT_NAME", addr, NULL);
        if (!sp)
                die("cannot add %s", name);
        umockdev_testbed_set_attribute_binary(tb, sp, "config", (guint8 *) g_bytes_get_data(config, NULL),
                                              g_bytes_get_size(config));
        dots = g_strnfill(depth * 3, '.');
        for (unsigned i = 0; i < depth; i++)
                dots[i * 3 + 2] = '/';
        gtarget = g_strdup_printf("%skernel/iommu_groups/%u", dots, group);
        umockdev_testbed_set_attribute_link(tb, sp, "iommu_group", gtarget);
        group_link(root, group, rel, addr);
        return sp;
}

static void bind_links(const char *root, const char *syspath, const char *drv) {
        g_autofree gchar *addr = g_path_get_basename(syspath);
        g_autofree gchar *ddir = g_strdup_printf("%s/sys/bus/pci/drivers/%s", root, drv);
        g_autofree gchar *link = g_strdup_printf("%s%s/driver", root, syspath);
        g_autofree gchar *back = g_build_filename(ddir, addr, NULL);
        g_autofree gchar *back_target = g_strdup_printf("../../../..%s", syspath + strlen("/sys"));
        GString *t = g_string_new(NULL);

        g_mkdir_with_parents(ddir, 0755);
        for (const char *p = syspath + strlen("/sys"); *p; p++)
                if (*p == '/')
                        g_string_append(t, "../");
        g_string_append_printf(t, "bus/pci/drivers/%s", drv);
        xsymlink(t->str, link);
        xsymlink(back_target, back);
        g_string_free(t, TRUE);
}

static char *vf_addr(unsigned n) {
        unsigned rid = 1 + n;   /* offset 1, stride 1 */
        return g_strdup_printf("0001:%02x:%02x.%u", rid >> 8, (rid & 0xff) >> 3, rid & 7);
}

typedef struct Bed {
        UMockdevTestbed *tb;
        char *root;
        GPtrArray *vfs;          /* syspaths */
} Bed;

static Bed *bed_new(const char *record_file, unsigned n_vfs, GBytes *pf_config, GBytes *nic_config,
                    bool cycle_function) {
        Bed *b = g_new0(Bed, 1);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *pf = NULL;

        b->tb = umockdev_testbed_new();
        b->root = umockdev_testbed_get_root_dir(b->tb);
        if (!umockdev_testbed_add_from_file(b->tb, record_file, &error))
                die("%s: %s", record_file, error->message);
        pf = add_function(b->tb, b->root, "pci0001:00/" PF_ADDR, PF_ADDR, "0x010802\n", "10802", "0x0010\n",
                          "1B36:0010", pf_config, PF_GROUP);
        {
                g_autofree gchar *tot = g_strdup_printf("%u\n", n_vfs);
                umockdev_testbed_set_attribute(b->tb, pf, "sriov_totalvfs", tot);
                umockdev_testbed_set_attribute(b->tb, pf, "sriov_numvfs", "0\n");
                umockdev_testbed_set_attribute(b->tb, pf, "sriov_drivers_autoprobe", "1\n");
                umockdev_testbed_set_attribute(b->tb, pf, "sriov_offset", "1\n");
                umockdev_testbed_set_attribute(b->tb, pf, "sriov_stride", "1\n");
        }
        bind_links(b->root, PF_SYSPATH, "nvme");
        b->vfs = g_ptr_array_new_with_free_func(g_free);
        if (cycle_function) {
                gchar *sp = add_function(b->tb, b->root, "pci0000:00/0000:00:08.0/" CYCLE_ADDR, CYCLE_ADDR,
                                         "0x020000\n", "20000", "0x10d3\n", "8086:10D3", nic_config, 25);
                bind_links(b->root, sp, "e1000e");
                g_free(sp);
        }
        return b;
}

/* the VFs, once the listener runs (it must not find them at its start) */
static void bed_add_vfs(Bed *b, unsigned n_vfs, GBytes *vf_config) {
        for (unsigned n = 0; n < n_vfs; n++) {
                g_autofree gchar *addr = vf_addr(n);
                g_autofree gchar *name = g_strdup_printf("pci0001:00/%s", addr);
                g_ptr_array_add(b->vfs, add_function(b->tb, b->root, name, addr, "0x010802\n", "10802", "0x0010\n",
                                                     "1B36:0010", vf_config, PF_GROUP + 1 + n));
        }
}

static void bed_free(Bed *b) {
        g_ptr_array_free(b->vfs, TRUE);
        g_free(b->root);
        g_object_unref(b->tb);   /* removes the directory */
        g_free(b);
}

/* the burst: for each VF "add", physfn/virtfn links, driver links, "bind" */
typedef struct Burst {
        Sender *s;
        Bed *bed;
        GPtrArray *events;       /* GBytes: add, bind, add, bind, ... */
        double t_first, t_last;  /* first send began, last send returned */
} Burst;

static void burst_prepare(Burst *bu) {
        bu->events = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        for (guint n = 0; n < bu->bed->vfs->len; n++) {
                g_ptr_array_add(bu->events, build_uevent(bu->s, bu->bed->vfs->pdata[n], "add", NULL));
                g_ptr_array_add(bu->events, build_uevent(bu->s, bu->bed->vfs->pdata[n], "bind", "nvme"));
        }
}

static void *burst_thread(void *userdata) {
        Burst *bu = userdata;
        g_autofree gchar *pf_dir = g_strdup_printf("%s" PF_SYSPATH, bu->bed->root);

        bu->t_first = now_ms();
        for (guint n = 0; n < bu->bed->vfs->len; n++) {
                const char *sp = bu->bed->vfs->pdata[n];
                g_autofree gchar *addr = g_path_get_basename(sp);
                g_autofree gchar *physfn = g_strdup_printf("%s%s/physfn", bu->bed->root, sp);
                g_autofree gchar *virtfn = g_strdup_printf("%s/virtfn%u", pf_dir, n);
                g_autofree gchar *vft = g_strdup_printf("../%s", addr);

                send_built(bu->s, bu->events->pdata[2 * n]);
                xsymlink("../" PF_ADDR, physfn);
                xsymlink(vft, virtfn);
                bind_links(bu->bed->root, sp, "nvme");
                send_built(bu->s, bu->events->pdata[2 * n + 1]);
        }
        bu->t_last = bu->s->t_sent;
        return NULL;
}

/* ---- the daemon ---- */

typedef struct Watch {
        char *last_vf_path;
        double t_last_pc, t_last_driver_changed;
        unsigned device_added, device_removed, driver_changed;
} Watch;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
        double t = now_ms();

        if (!member || !path || g_strcmp0(sd_bus_message_get_sender(m), "org.freedesktop.DBus") == 0)
                return 0;
        if (strcmp(member, "DeviceAdded") == 0)
                w->device_added++;
        else if (strcmp(member, "DeviceRemoved") == 0)
                w->device_removed++;
        else if (strcmp(member, "DriverChanged") == 0) {
                const char *addr;
                w->driver_changed++;
                if (w->last_vf_path && sd_bus_message_read(m, "s", &addr) >= 0) {
                        g_autofree gchar *p = NULL;
                        if (sd_bus_path_encode("/org/pciassign1/device", addr, &p) >= 0 &&
                            strcmp(p, w->last_vf_path) == 0)
                                w->t_last_driver_changed = t;
                }
        } else if (strcmp(member, "PropertiesChanged") == 0 && w->last_vf_path && strcmp(path, w->last_vf_path) == 0)
                w->t_last_pc = t;
        return 0;
}

typedef struct Daemon {
        pid_t pid;
        char *dir;
} Daemon;

static bool name_owned(sd_bus *bus) {
        sd_bus_message *reply = NULL;
        int owned = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", "org.pciassign1");
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &owned);
        sd_bus_message_unref(reply);
        return r >= 0 && owned;
}

static Daemon daemon_start(const char *exe, const char *address, const char *root, sd_bus *bus) {
        Daemon d = { 0 };
        char tmpl[] = "/tmp/bench-hotplug.XXXXXX";
        double t0;

        if (!mkdtemp(tmpl))
                die("mkdtemp: %s", g_strerror(errno));
        d.dir = g_strdup(tmpl);
        d.pid = fork();
        if (d.pid < 0)
                die("fork: %s", g_strerror(errno));
        if (d.pid == 0) {
                g_autofree gchar *state = g_build_filename(tmpl, "state", NULL);
                g_autofree gchar *run = g_build_filename(tmpl, "run", NULL);
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                g_mkdir(state, 0700);
                g_mkdir(run, 0755);
                setenv("UMOCKDEV_DIR", root, 1);
                setenv("LD_PRELOAD", PRELOAD, 1);
                setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
                setenv("STATE_DIRECTORY", state, 1);
                setenv("RUNTIME_DIRECTORY", run, 1);
                unsetenv("NOTIFY_SOCKET");
                if (fd >= 0)
                        dup2(fd, STDOUT_FILENO);
                execl(exe, exe, (char *) NULL);
                _exit(127);
        }
        t0 = now_ms();
        while (!name_owned(bus)) {
                int status;
                if (waitpid(d.pid, &status, WNOHANG) == d.pid)
                        die("the daemon exited during start-up (status %d)", status);
                if (now_ms() - t0 > 120e3)
                        die("the daemon did not take its bus name");
                usleep(5000);
        }
        return d;
}

static void daemon_stop(Daemon *d) {
        int status;

        kill(d->pid, SIGTERM);
        if (waitpid(d->pid, &status, 0) != d->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "bench-hotplug: the daemon did not exit cleanly (status %d)\n", status);
        {
                g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", d->dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "bench-hotplug: cannot remove %s\n", d->dir);
        }
        g_free(d->dir);
}

static unsigned long long stat_ticks(const char *path) {
        g_autofree gchar *text = NULL;
        unsigned long long ut, st;
        const char *p;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strrchr(text, ')')))
                return 0;
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return 0;
        return ut + st;
}

/* CPU time of all threads, ms: the live threads' schedstat (ns), plus
 * what exited threads used (the process's /proc/PID/stat keeps it) */
static double cpu_ms(pid_t pid) {
        g_autofree gchar *task = g_strdup_printf("/proc/%d/task", (int) pid);
        g_autofree gchar *stat = g_strdup_printf("/proc/%d/stat", (int) pid);
        g_autoptr(GDir) d = g_dir_open(task, 0, NULL);
        unsigned long long ns = 0, live = 0, all;
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree gchar *ss = g_strdup_printf("%s/%s/schedstat", task, name);
                g_autofree gchar *st = g_strdup_printf("%s/%s/stat", task, name);
                g_autofree gchar *text = NULL;
                if (g_file_get_contents(ss, &text, NULL, NULL))
                        ns += g_ascii_strtoull(text, NULL, 10);
                live += stat_ticks(st);
        }
        all = stat_ticks(stat);
        if (all > live)
                ns += (all - live) * 1000000000ULL / (unsigned long long) sysconf(_SC_CLK_TCK);
        return (double) ns / 1e6;
}

static long status_kib(pid_t pid, const char *key) {
        g_autofree gchar *path = g_strdup_printf("/proc/%d/status", (int) pid), *text = NULL;
        const char *p;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, key)))
                return -1;
        return strtol(p + strlen(key), NULL, 10);
}

/* VmRSS, and what it is made of, to stderr */
static long rss_kib(pid_t pid) {
        fprintf(stderr, "  daemon: VmRSS %ld KiB (RssAnon %ld, RssFile %ld, RssShmem %ld), VmData %ld KiB\n",
                status_kib(pid, "VmRSS:"), status_kib(pid, "RssAnon:"), status_kib(pid, "RssFile:"),
                status_kib(pid, "RssShmem:"), status_kib(pid, "VmData:"));
        return status_kib(pid, "VmRSS:");
}

/* processes the bus until cond() or timeout; false on timeout */
static bool pump(sd_bus *bus, bool (*cond)(void *), void *userdata, double timeout_ms, pid_t pid) {
        double t0 = now_ms();

        for (;;) {
                int r;
                while ((r = sd_bus_process(bus, NULL)) > 0)
                        ;
                if (r < 0)
                        die("bus: %s", g_strerror(-r));
                if (cond(userdata))
                        return true;
                if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
                        die("the daemon died");
                if (now_ms() - t0 > timeout_ms)
                        return false;
                (void) sd_bus_wait(bus, 20 * 1000);
        }
}

static bool burst_done(void *userdata) {
        Watch *w = userdata;
        return w->t_last_pc > 0;
}

typedef struct RoundResult {
        double burst_ms, tail_ms, cpu_ms_per_event, send_ms;
        unsigned driver_changed, device_added;
} RoundResult;

static RoundResult daemon_round(const char *exe, const char *address, const char *record, unsigned n_vfs,
                                GBytes *pfc, GBytes *vfc, GBytes *nicc) {
        Bed *bed = bed_new(record, n_vfs, pfc, nicc, false);
        sd_bus *bus = NULL;
        Watch w = { 0 };
        Sender s = { .root = bed->root };
        Burst bu = { .s = &s, .bed = bed };
        RoundResult res = { 0 };
        g_autofree gchar *last = vf_addr(n_vfs - 1);
        double cpu0, cpu1;
        pthread_t th;
        Daemon d;
        int r;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0)
                die("cannot connect to %s", address);
        r = sd_bus_path_encode("/org/pciassign1/device", last, &w.last_vf_path);
        if (r < 0)
                die("path");
        r = sd_bus_match_signal(bus, NULL, NULL, NULL, NULL, NULL, on_signal, &w);
        if (r < 0)
                die("match: %s", g_strerror(-r));
        d = daemon_start(exe, address, bed->root, bus);
        sender_find_listeners(&s);
        if (s.sockets->len != 1)
                die("%u listeners in the testbed, expected the daemon's only", s.sockets->len);
        bed_add_vfs(bed, n_vfs, vfc);
        burst_prepare(&bu);
        cpu0 = cpu_ms(d.pid);
        pthread_create(&th, NULL, burst_thread, &bu);
        if (!pump(bus, burst_done, &w, 300e3, d.pid))
                die("the daemon did not handle the burst (%u DeviceAdded)", w.device_added);
        pthread_join(th, NULL);
        if (!pump(bus, burst_done, &w, 300e3, d.pid))
                die("the daemon did not handle the burst (%u DeviceAdded)", w.device_added);
        cpu1 = cpu_ms(d.pid);
        if (w.device_added != n_vfs)
                die("%u DeviceAdded for %u VFs", w.device_added, n_vfs);
        res.burst_ms = w.t_last_pc - bu.t_first;
        res.tail_ms = w.t_last_pc - bu.t_last;
        res.send_ms = bu.t_last - bu.t_first;
        res.cpu_ms_per_event = (cpu1 - cpu0) / (2.0 * n_vfs);
        res.driver_changed = w.driver_changed;
        res.device_added = w.device_added;
        daemon_stop(&d);
        g_ptr_array_free(bu.events, TRUE);
        free(w.last_vf_path);
        sd_bus_flush_close_unref(bus);
        g_ptr_array_free(s.sockets, TRUE);
        bed_free(bed);
        return res;
}

static RoundResult monitor_round(const char *self, const char *record, unsigned n_vfs, GBytes *pfc, GBytes *vfc,
                                 GBytes *nicc) {
        Bed *bed = bed_new(record, n_vfs, pfc, nicc, false);
        Sender s = { .root = bed->root };
        Burst bu = { .s = &s, .bed = bed };
        RoundResult res = { 0 };
        g_autofree gchar *n_arg = g_strdup_printf("%u", 2 * n_vfs);
        char line[256] = "";
        double first, last, cpu;
        unsigned got;
        int pfd[2], status;
        FILE *f;
        pid_t pid;

        if (pipe2(pfd, O_CLOEXEC) < 0)
                die("pipe");
        pid = fork();
        if (pid == 0) {
                dup2(pfd[1], STDOUT_FILENO);
                setenv("UMOCKDEV_DIR", bed->root, 1);
                setenv("LD_PRELOAD", PRELOAD, 1);
                execl(self, self, "--monitor", n_arg, (char *) NULL);
                _exit(127);
        }
        close(pfd[1]);
        f = fdopen(pfd[0], "r");
        if (!fgets(line, sizeof line, f) || strcmp(line, "ready\n") != 0)
                die("the monitor did not start");
        sender_find_listeners(&s);
        if (s.sockets->len != 1)
                die("%u listeners in the testbed, expected the monitor's only", s.sockets->len);
        bed_add_vfs(bed, n_vfs, vfc);
        burst_prepare(&bu);
        burst_thread(&bu);
        if (!fgets(line, sizeof line, f) || sscanf(line, "%lf %lf %u %lf", &first, &last, &got, &cpu) != 4)
                die("the monitor said nothing");
        res.cpu_ms_per_event = cpu / (2.0 * n_vfs);
        fclose(f);
        waitpid(pid, &status, 0);
        res.burst_ms = last - bu.t_first;
        res.tail_ms = last - bu.t_last;
        res.send_ms = bu.t_last - bu.t_first;
        g_ptr_array_free(bu.events, TRUE);
        g_ptr_array_free(s.sockets, TRUE);
        bed_free(bed);
        return res;
}

/* ---- add/remove cycles: the daemon's RSS ---- */

typedef struct Cycles {
        Sender *s;
        unsigned n, pace_us;
        volatile unsigned sent;
} Cycles;

static void *cycles_thread(void *userdata) {
        Cycles *c = userdata;

        for (unsigned i = 0; i < c->n; i++) {
                send_uevent(c->s, CYCLE_SYSPATH, "remove", NULL);
                send_uevent(c->s, CYCLE_SYSPATH, "add", NULL);
                c->sent = i + 1;
                if (c->pace_us)
                        usleep(c->pace_us);
        }
        return NULL;
}

typedef struct CycleWait {
        Watch *w;
        unsigned want;
} CycleWait;

static bool cycles_done(void *userdata) {
        CycleWait *cw = userdata;
        return cw->w->device_added >= cw->want;
}

static bool never(void *userdata) {
        return false;
}

/* The daemon's RSS once it is idle: its last signals read by us and
 * 300 ms of nothing (it gives the memory of a long signal queue back a
 * moment after the queue is written out). */
static long rss_settled(sd_bus *bus, pid_t pid) {
        (void) pump(bus, never, NULL, 300, pid);
        return rss_kib(pid);
}

static void rss_cycles(const char *exe, const char *address, const char *record, unsigned n, GBytes *pfc,
                       GBytes *vfc, GBytes *nicc, long *ret_ready, long *ret_warm, long *ret_after,
                       double *ret_ms, double *ret_cpu_per_event) {
        Bed *bed = bed_new(record, 1, pfc, nicc, true);
        Sender s = { .root = bed->root };
        sd_bus *bus = NULL;
        Watch w = { 0 };
        unsigned warm = n / 10 ? n / 10 : 1;
        unsigned pace = getenv("BENCH_HOTPLUG_PACE_US") ? (unsigned) atoi(getenv("BENCH_HOTPLUG_PACE_US")) : 0;
        Cycles c1 = { .s = &s, .n = warm, .pace_us = pace }, c2 = { .s = &s, .n = n - warm, .pace_us = pace };
        CycleWait cw = { .w = &w };
        double t0, cpu0;
        pthread_t th;
        Daemon d;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0)
                die("cannot connect to %s", address);
        if (sd_bus_match_signal(bus, NULL, NULL, NULL, NULL, NULL, on_signal, &w) < 0)
                die("match");
        d = daemon_start(exe, address, bed->root, bus);
        sender_find_listeners(&s);
        usleep(200 * 1000);
        *ret_ready = rss_kib(d.pid);
        t0 = now_ms();
        cpu0 = cpu_ms(d.pid);

        fprintf(stderr, "add/remove cycles of %s: %u\n", CYCLE_ADDR, n);
        pthread_create(&th, NULL, cycles_thread, &c1);
        cw.want = warm;
        if (!pump(bus, cycles_done, &cw, 600e3, d.pid))
                die("the daemon did not follow the cycles (%u of %u)", w.device_added, cw.want);
        pthread_join(th, NULL);
        *ret_warm = rss_settled(bus, d.pid);

        pthread_create(&th, NULL, cycles_thread, &c2);
        cw.want = n;
        if (!pump(bus, cycles_done, &cw, 1800e3, d.pid))
                die("the daemon did not follow the cycles (%u of %u)", w.device_added, cw.want);
        pthread_join(th, NULL);
        *ret_ms = now_ms() - t0;
        *ret_cpu_per_event = (cpu_ms(d.pid) - cpu0) / (2.0 * n);
        *ret_after = rss_settled(bus, d.pid);
        if (w.device_removed != n)
                die("%u DeviceRemoved for %u cycles", w.device_removed, n);
        daemon_stop(&d);
        sd_bus_flush_close_unref(bus);
        g_ptr_array_free(s.sockets, TRUE);
        bed_free(bed);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n) {
        double *c = g_memdup2(v, n * sizeof(double)), m;

        qsort(c, n, sizeof(double), cmp_double);
        m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
        g_free(c);
        return m;
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "address", required_argument, NULL, 'a' },
                { "daemon",  required_argument, NULL, 'd' },
                { "record",  required_argument, NULL, 'R' },
                { "vfs",     required_argument, NULL, 'n' },
                { "rounds",  required_argument, NULL, 'r' },
                { "cycles",  required_argument, NULL, 'c' },
                { "json",    required_argument, NULL, 'j' },
                { "monitor", required_argument, NULL, 'm' },
                {}
        };
        const char *address = NULL, *exe = NULL, *record = NULL, *json = NULL;
        unsigned n_vfs = 256, rounds = 5, cycles = 10000;
        g_autofree gchar *text = NULL, *self = g_file_read_link("/proc/self/exe", NULL);
        g_autoptr(GBytes) pfc = NULL, vfc = NULL, nicc = NULL;
        double *db, *dt, *dc, *mb, *mt, *ds, *ms, *mc;
        long rss_ready, rss_warm, rss_after;
        double cyc_ms, cyc_cpu;
        unsigned dchanged = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': address = optarg; break;
                case 'd': exe = optarg; break;
                case 'R': record = optarg; break;
                case 'n': n_vfs = (unsigned) atoi(optarg); break;
                case 'r': rounds = (unsigned) atoi(optarg); break;
                case 'c': cycles = (unsigned) atoi(optarg); break;
                case 'j': json = optarg; break;
                case 'm': return monitor_main((unsigned) atoi(optarg));
                default:
                        return 2;
                }
        }
        if (!address || !exe || !record || n_vfs < 1 || n_vfs > 256 || rounds < 1 || cycles < 1) {
                fprintf(stderr, "usage: %s --address BUS --daemon PATH --record FILE [--vfs N<=256] [--rounds R] "
                        "[--cycles C] [--json FILE]\n", argv[0]);
                return 2;
        }
        if (getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "umockdev"))
                die("run me without the umockdev preload (the daemon and the monitor get it)");
        if (!g_file_get_contents(record, &text, NULL, NULL))
                die("cannot read %s", record);
        {
                g_autofree gchar *a = record_config(text, "0000:01:00.0"), *b = record_config(text, "0000:01:00.1");
                g_autofree gchar *e = record_config(text, "0000:02:00.0");
                pfc = hex_bytes(a);
                vfc = hex_bytes(b);
                nicc = hex_bytes(e);
        }

        db = g_new0(double, rounds); dt = g_new0(double, rounds); dc = g_new0(double, rounds);
        ds = g_new0(double, rounds); mb = g_new0(double, rounds); mt = g_new0(double, rounds);
        ms = g_new0(double, rounds); mc = g_new0(double, rounds);
        /* one warm-up of each, then interleaved rounds */
        (void) monitor_round(self, record, n_vfs, pfc, vfc, nicc);
        (void) daemon_round(exe, address, record, n_vfs, pfc, vfc, nicc);
        for (unsigned i = 0; i < rounds; i++) {
                RoundResult m = monitor_round(self, record, n_vfs, pfc, vfc, nicc);
                RoundResult d = daemon_round(exe, address, record, n_vfs, pfc, vfc, nicc);

                mb[i] = m.burst_ms; mt[i] = m.tail_ms; ms[i] = m.send_ms; mc[i] = m.cpu_ms_per_event;
                db[i] = d.burst_ms; dt[i] = d.tail_ms; dc[i] = d.cpu_ms_per_event; ds[i] = d.send_ms;
                dchanged = d.driver_changed;
                fprintf(stderr, "round %u/%u: monitor burst %.1f ms (tail %.2f), %.4f ms CPU/event; daemon burst "
                        "%.1f ms (tail %.2f), %.4f ms CPU/event\n", i + 1, rounds, m.burst_ms, m.tail_ms,
                        m.cpu_ms_per_event, d.burst_ms, d.tail_ms, d.cpu_ms_per_event);
        }
        rss_cycles(exe, address, record, cycles, pfc, vfc, nicc, &rss_ready, &rss_warm, &rss_after, &cyc_ms,
                   &cyc_cpu);

        {
                double MB = median(mb, rounds), MT = median(mt, rounds), DB = median(db, rounds),
                       DT = median(dt, rounds), DC = median(dc, rounds), MS = median(ms, rounds),
                       DS = median(ds, rounds), MC = median(mc, rounds);
                double flat_warm = rss_warm > 0 ? 100.0 * (double) (rss_after - rss_warm) / (double) rss_warm : 0;
                double flat_ready = rss_ready > 0 ? 100.0 * (double) (rss_after - rss_ready) / (double) rss_ready : 0;
                GString *j = g_string_new(NULL);
                g_autofree gchar *qlen = NULL;
                double la[1] = { -1 };

                (void) getloadavg(la, 1);
                if (g_file_get_contents("/proc/sys/net/unix/max_dgram_qlen", &qlen, NULL, NULL))
                        g_strstrip(qlen);
                printf("\npci-assignd hotplug benchmark: a burst of %u VFs (%u uevents: add + bind each), %u rounds "
                       "(medians), load average %.2f\n", n_vfs, 2 * n_vfs, rounds, la[0]);
                printf("  %-40s %12s %12s %9s\n", "", "monitor", "pci-assignd", "ratio");
                printf("  %-40s %9.1f ms %9.1f ms %8.2fx\n", "burst: first uevent sent -> last handled", MB, DB,
                       DB / MB);
                printf("  %-40s %9.2f ms %9.2f ms %+8.2f ms\n", "tail: last uevent sent -> last handled", MT, DT,
                       DT - MT);
                printf("  %-40s %9.4f ms %9.4f ms %8.1fx\n", "CPU time per event", MC, DC, MC > 0 ? DC / MC : 0);
                printf("  the sender waits while a listener's queue (%s datagrams) is full, so the burst runs at the\n"
                       "  listener's pace; last handled = the monitor's last event; the daemon's PropertiesChanged of\n"
                       "  the last VF after its bind, which follows its DriverChanged (%u DriverChanged for %u VFs\n"
                       "  in the last round: one each, at the bind or, when read bound, right after the DeviceAdded)\n",
                       qlen ? qlen : "?", dchanged, n_vfs);
                printf("RSS over %u add/remove cycles of %s (%u uevents, %.1f s, %.3f ms CPU/event): %ld KiB after "
                       "READY, %ld KiB after %u cycles, %ld KiB after %u: %+.2f%% since warm (target: within 1%%), "
                       "%+.2f%% since READY\n", cycles, CYCLE_ADDR, 2 * cycles, cyc_ms / 1e3, cyc_cpu, rss_ready,
                       rss_warm, cycles / 10 ? cycles / 10 : 1, rss_after, cycles, flat_warm, flat_ready);
                g_string_append_printf(j, "{\n  \"vfs\": %u, \"events\": %u, \"rounds\": %u,\n", n_vfs, 2 * n_vfs,
                                       rounds);
                g_string_append_printf(j, "  \"monitor\": {\"burst_ms\": %.3f, \"tail_ms\": %.3f, \"send_ms\": %.3f, "
                                       "\"cpu_ms_per_event\": %.4f},\n", MB, MT, MS, MC);
                g_string_append_printf(j, "  \"daemon\": {\"burst_ms\": %.3f, \"tail_ms\": %.3f, \"send_ms\": %.3f, "
                                       "\"cpu_ms_per_event\": %.4f},\n", DB, DT, DS, DC);
                g_string_append_printf(j, "  \"ratio\": {\"burst\": %.3f, \"cpu\": %.3f},\n", DB / MB,
                                       MC > 0 ? DC / MC : 0);
                g_string_append_printf(j, "  \"rss\": {\"cycles\": %u, \"kib_ready\": %ld, \"kib_warm\": %ld, "
                                       "\"kib_after\": %ld, \"percent_since_warm\": %.3f, \"percent_since_ready\": %.3f, "
                                       "\"target_percent\": 1, \"met\": %s, \"cycles_s\": %.3f, "
                                       "\"cpu_ms_per_event\": %.4f}\n}\n",
                                       cycles, rss_ready, rss_warm, rss_after, flat_warm, flat_ready,
                                       flat_warm <= 1.0 ? "true" : "false", cyc_ms / 1e3, cyc_cpu);
                if (json && !g_file_set_contents(json, j->str, -1, NULL))
                        die("cannot write %s", json);
                if (json)
                        printf("results: %s\n", json);
                g_string_free(j, TRUE);
        }
        g_free(db); g_free(dt); g_free(dc); g_free(ds); g_free(mb); g_free(mt); g_free(ms); g_free(mc);
        return 0;
}
