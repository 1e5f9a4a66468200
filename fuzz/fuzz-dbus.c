/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-dbus: the daemon's D-Bus methods, fed with calls built from fuzz
 * input, against a fixed model.
 *
 * Set-up (once per process): a private dbus-daemon; a sysfs-like tree built
 * from the topology recorded in the VM (tests/data/testbeds/q35-vm.truth.json,
 * the fake kernel's tree builder), in a temporary directory; one harness
 * connection that sends the calls and plays polkit (it owns
 * org.freedesktop.PolicyKit1 and answers CheckAuthorization).  The method
 * table is read from the daemon's own vtables, so a new method or property
 * is fuzzed without touching this file.
 *
 * Per input: a fresh Manager as the daemon builds it (the model read from
 * the tree with pci_device_read_at(), the store in a temporary state
 * directory, the rebind job queue binding in the tree, its own bus
 * connection, every object exported), then the calls the input describes,
 * sent in order (some wait for the replies before them), then the loop runs
 * until every call is answered and every job ended.  Rebinds run for real
 * against the tree, with the fake kernel (tests/fakekernel, LD_PRELOAD,
 * set up by re-executing) playing the kernel's reactions: drivers move,
 * resets are counted, so reservations really get prepared and in use, and
 * any write into the real /sys aborts the process.
 *
 * Invariants, besides the sanitizers:
 *  - every call that expects a reply gets one (within 20 s);
 *  - every error is one of the API's (org.pciassign1.Error.*) or a D-Bus
 *    standard one that says what was wrong: never a bare errno
 *    (System.Error.*, org.freedesktop.DBus.Error.Failed without text);
 *  - afterwards the daemon still answers Describe with JSON that lists every
 *    function and reservation it holds;
 *  - the store on disk holds exactly the daemon's reservations, with their
 *    states: nothing acknowledged is lost.
 *
 * Input: byte 0..3 the polkit answers (used in turn: allow, deny,
 * challenge, error, malformed reply), then records until the input ends
 * (at most MAX_CALLS): flags, method, path, signature choice, then the
 * values the signature needs (see gen_value()).  The tree is rebuilt after
 * an input that wrote to it.
 *
 * Environment: FUZZ_DBUS_LOG=LEVEL shows the daemon's log (default: none);
 * FUZZ_DBUS_TRACE=1 prints the method table and every call and reply;
 * TMPDIR for the tree, bus and state (default /dev/shm: the store fsyncs).
 *
 * Hangs: scripts/fuzz.sh runs this target with -timeout=0, because
 * libFuzzer's timeout is a SIGALRM timer whose handler interrupts blocking
 * calls with EINTR (the daemon's own synchronous bus calls included, which
 * in the daemon never see a signal: main.c blocks them).  Instead a watchdog
 * thread aborts an input that runs longer than INPUT_DEADLINE_SEC, which
 * libFuzzer reports as a crash with the input saved.
 * The caller's uid is the fuzzer's; polkit is asked even for root
 * (--ask-polkit-for-root), so the answers above decide. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus-polkit.h"
#include "fakekernel-tree.h"
#include "fuzz.h"
#include "log.h"
#include "device-dbus.h"
#include "group-dbus.h"
#include "manager-dbus.h"
#include "reservation-dbus.h"
#include "manager.h"
#include "pci-device.h"
#include "store.h"

#define MAX_CALLS 24
#define MAX_DEPTH 4
#define CALL_DEADLINE_USEC (20ULL * 1000000ULL)
#define INPUT_DEADLINE_SEC 60

enum { PATH_MANAGER, PATH_DEVICE, PATH_GROUP, PATH_RESERVATION, PATH_ANY, _PATH_KIND_MAX };

typedef struct Method {
        const char *interface, *member, *signature;
        int path_kind;
} Method;

static Method methods[128];
static size_t n_methods;
static const char *property_words[128];
static size_t n_property_words;

static char tmp_root[PATH_MAX], sys_root[PATH_MAX], dev_root[PATH_MAX], state_dir[PATH_MAX],
        run_dir[PATH_MAX];
static pid_t bus_pid = -1;
static char *bus_address;
static sd_bus *client;            /* the caller, and polkit */
static bool tree_dirty;

/* the model's addresses, group ids and object paths, for the generator */
static char **addresses;
static size_t n_addresses;
static unsigned *group_ids;
static size_t n_group_ids;

/* this input's polkit answers, used in turn */
static uint8_t polkit_answers[4];
static unsigned polkit_next;

static unsigned pending;          /* calls sent, reply not yet seen */
static const char *daemon_name;   /* this input's daemon's unique name */
static bool trace;                /* FUZZ_DBUS_TRACE=1: print calls and replies */

typedef struct In {
        const uint8_t *p;
        size_t n;
} In;

static uint8_t in_byte(In *in) {
        if (in->n == 0)
                return 0;
        in->n--;
        return *in->p++;
}

static uint32_t in_u32(In *in) {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++)
                v = v << 8 | in_byte(in);
        return v;
}

/* libFuzzer's -timeout arms a SIGALRM timer whose handler interrupts the
 * harness's own blocking calls (sd-bus waits in ppoll(), which is never
 * restarted): those are retried, the daemon's code is not touched (the
 * daemon blocks its signals, see main.c). */
#define RETRY_EINTR(r, expr)            \
        do {                            \
                (r) = (expr);           \
        } while ((r) == -EINTR)

static void die(const char *what, int r) {
        fprintf(stderr, "fuzz-dbus: set-up failed: %s: %s\n", what, strerror(r < 0 ? -r : r));
        abort();
}

/* ---- set-up ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static void rm_rf(const char *path) {
        if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                die(path, errno);
}

static void empty_dir(const char *dir) {
        rm_rf(dir);
        if (mkdir(dir, 0755) < 0)
                die(dir, errno);
}

static void build_tree(void) {
        char *error = NULL;
        int r;

        empty_dir(sys_root);
        r = fakekernel_tree_build(sys_root, FUZZ_TRUTH_JSON, &error);
        if (r < 0) {
                fprintf(stderr, "fuzz-dbus: %s: %s\n", FUZZ_TRUTH_JSON, error ? error : strerror(-r));
                abort();
        }
        free(error);
        tree_dirty = false;
}

/* The model as the daemon reads it, from the tree: every function below
 * bus/pci/devices, in address order. */
static Topology *read_topology(void) {
        char dir[PATH_MAX + 32];
        struct dirent **names = NULL;
        Topology *t = topology_new();
        PciNameCache *nc = pci_name_cache_new(NULL);
        int n;

        if (!t || !nc)
                die("topology", ENOMEM);
        snprintf(dir, sizeof dir, "%s/bus/pci/devices", sys_root);
        n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
                die(dir, errno);
        for (int i = 0; i < n; i++) {
                char link[PATH_MAX * 2], real[PATH_MAX];
                PciDevice *d = NULL, *old = NULL;
                int r;

                if (names[i]->d_name[0] == '.') {
                        free(names[i]);
                        continue;
                }
                snprintf(link, sizeof link, "%s/%s", dir, names[i]->d_name);
                free(names[i]);
                if (!realpath(link, real))
                        die(link, errno);
                r = pci_device_read_at(AT_FDCWD, real, NULL, nc, &d);
                if (r < 0)
                        die(real, r);
                r = topology_add(t, d, &old);
                if (r < 0)
                        die("topology_add", r);
                pci_device_free(old);
        }
        free(names);
        pci_name_cache_free(nc);
        return t;
}

static void stop_bus(void) {
        if (bus_pid > 0) {
                kill(bus_pid, SIGTERM);
                (void) waitpid(bus_pid, NULL, 0);
                bus_pid = -1;
        }
        if (tmp_root[0]) {
                rm_rf(tmp_root);
                tmp_root[0] = 0;
        }
}

static void start_bus(void) {
        char conf[PATH_MAX + 16], buf[512];
        int pipefd[2];
        size_t got = 0;
        FILE *f;

        snprintf(conf, sizeof conf, "%s/bus.conf", tmp_root);
        f = fopen(conf, "we");
        if (!f)
                die(conf, errno);
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>session</type>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <allow own=\"*\"/>\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow receive_sender=\"*\"/>\n"
                "  </policy>\n"
                "  <limit name=\"max_replies_per_connection\">100000</limit>\n"
                "</busconfig>\n", tmp_root);
        fclose(f);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe", errno);
        bus_pid = fork();
        if (bus_pid < 0)
                die("fork", errno);
        if (bus_pid == 0) {
                char conf_arg[PATH_MAX + 32];

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* the fake kernel is ours, built with the sanitizers */
                unsetenv("LD_PRELOAD");
                dup2(pipefd[1], STDOUT_FILENO);
                if (!getenv("FUZZ_DBUS_LOG")) {
                        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                        if (null >= 0)
                                dup2(null, STDERR_FILENO);
                }
                snprintf(conf_arg, sizeof conf_arg, "--config-file=%s", conf);
                execlp("dbus-daemon", "dbus-daemon", conf_arg, "--nofork", "--print-address", (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        while (got < sizeof buf - 1) {
                ssize_t k = read(pipefd[0], buf + got, sizeof buf - 1 - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t) k;
                if (memchr(buf, '\n', got))
                        break;
        }
        close(pipefd[0]);
        buf[got] = 0;
        buf[strcspn(buf, "\n")] = 0;
        if (!*buf)
                die("dbus-daemon did not start (is dbus-daemon installed?)", EIO);
        bus_address = strdup(buf);
}

static int connect_bus(sd_bus **ret) {
        sd_bus *b = NULL;
        int r;

        r = sd_bus_new(&b);
        if (r >= 0)
                r = sd_bus_set_address(b, bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(b, 1);
        if (r >= 0)
                RETRY_EINTR(r, sd_bus_start(b));
        if (r < 0) {
                sd_bus_unref(b);
                return r;
        }
        *ret = b;
        return 0;
}

/* polkit, played by the harness: the answer is this input's next polkit
 * byte.  Modes: allow, deny, challenge (needs interaction), an error, a
 * reply of the wrong type. */
static int polkit_object(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        uint8_t a;
        (void) userdata;

        /* a plain object handler, not a vtable: a vtable method's reply
         * must have the declared signature, and a malformed one is wanted */
        if (!sd_bus_message_is_method_call(msg, "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization"))
                return 0;
        a = polkit_answers[polkit_next++ % sizeof polkit_answers];

        switch (a % 5) {
        case 0:
                return sd_bus_reply_method_return(msg, "(bba{ss})", 1, 0, 0);
        case 1:
                return sd_bus_reply_method_return(msg, "(bba{ss})", 0, 0, 0);
        case 2:
                return sd_bus_reply_method_return(msg, "(bba{ss})", 0, 1, 0);
        case 3:
                return sd_bus_error_set(error, "org.freedesktop.PolicyKit1.Error.Failed", "fuzzed failure");
        default:
                return sd_bus_reply_method_return(msg, "s", "not an authorization result");
        }
}

static void add_method(const char *interface, const char *member, const char *signature, int path_kind) {
        Method *x;

        if (n_methods >= sizeof methods / sizeof methods[0])
                die("too many methods", E2BIG);
        x = &methods[n_methods++];
        x->interface = interface;
        x->member = member;
        x->signature = signature ? signature : "";  /* SD_BUS_NO_ARGS: NULL */
        x->path_kind = path_kind;
}

static void add_vtable(const char *interface, const sd_bus_vtable *v, int path_kind) {
        for (; v->type != _SD_BUS_VTABLE_END; v++) {
                if (v->type == _SD_BUS_VTABLE_METHOD)
                        add_method(interface, v->x.method.member, v->x.method.signature, path_kind);
                else if ((v->type == _SD_BUS_VTABLE_PROPERTY || v->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) &&
                         n_property_words < sizeof property_words / sizeof property_words[0])
                        property_words[n_property_words++] = v->x.property.member;
        }
}

/* ---- the watchdog (see "Hangs" above) ---- */

static _Atomic int64_t input_started; /* CLOCK_MONOTONIC seconds, 0 between inputs */

static int64_t mono_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static void *watchdog(void *arg) {
        (void) arg;
        for (;;) {
                int64_t t0 = atomic_load(&input_started);
                if (t0 > 0 && mono_sec() - t0 > INPUT_DEADLINE_SEC) {
                        fprintf(stderr, "fuzz-dbus: an input ran longer than %d s (a hang)\n", INPUT_DEADLINE_SEC);
                        abort();
                }
                sleep(1);
        }
        return NULL;
}

static void start_watchdog(void) {
        sigset_t all, old;
        pthread_t t;
        int r;

        /* the thread takes no signal: libFuzzer's handlers stay on the
         * fuzzing thread */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&t, NULL, watchdog, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                die("starting the watchdog thread", r);
        pthread_detach(t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tmp = getenv("TMPDIR"), *lvl = getenv("FUZZ_DBUS_LOG");
        Topology *t;
        int r;

        (void) argc;
        /* The fake kernel must be in place before anything opens a file:
         * start again with it preloaded (libFuzzer's own worker processes
         * inherit the environment). */
        if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "fakekernel")) {
                char asan[512];

                setenv("LD_PRELOAD", FUZZ_FAKEKERNEL_SO, 1);
                snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", getenv("ASAN_OPTIONS") ?: "",
                         getenv("ASAN_OPTIONS") ? ":" : "");
                setenv("ASAN_OPTIONS", asan, 1);
                execv("/proc/self/exe", *argv);
                die("re-executing with the fake kernel preloaded", errno);
        }
        log_set_max_level(lvl ? log_level_from_string(lvl) : -1);
        trace = getenv("FUZZ_DBUS_TRACE") != NULL;
        polkit_settings.ask_for_root = true;
        polkit_settings.timeout_usec = 5ULL * 1000000ULL;
        signal(SIGPIPE, SIG_IGN);
        start_watchdog();

        /* tmpfs by default: the store fsyncs every write, which on a disk
         * costs more than everything else of an input */
        if (!tmp || !*tmp)
                tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmp_root, sizeof tmp_root, "%s/pci-assignd-fuzz-dbus.XXXXXX", tmp);
        if (!mkdtemp(tmp_root))
                die(tmp_root, errno);
        atexit(stop_bus);
        snprintf(sys_root, sizeof sys_root, "%s/sys", tmp_root);
        setenv("FAKEKERNEL_ROOT", sys_root, 1);
        snprintf(dev_root, sizeof dev_root, "%s/dev", tmp_root);
        snprintf(state_dir, sizeof state_dir, "%s/state", tmp_root);
        snprintf(run_dir, sizeof run_dir, "%s/run", tmp_root);
        build_tree();
        empty_dir(dev_root);
        {
                char vfio[PATH_MAX + 8];
                snprintf(vfio, sizeof vfio, "%s/vfio", dev_root);
                if (mkdir(vfio, 0755) < 0)
                        die(vfio, errno);
        }
        setenv("STATE_DIRECTORY", state_dir, 1);
        setenv("RUNTIME_DIRECTORY", run_dir, 1);

        /* the dictionary of the model */
        t = read_topology();
        addresses = calloc(t->n_devices, sizeof(char *));
        group_ids = calloc(t->n_groups + 1, sizeof(unsigned));
        if (!addresses || !group_ids)
                die("dictionary", ENOMEM);
        for (size_t i = 0; i < t->n_devices; i++)
                if (!(addresses[n_addresses++] = strdup(t->devices[i]->name)))
                        die("dictionary", ENOMEM);
        for (size_t i = 0; i < t->n_groups; i++) {
                char vfio[PATH_MAX + 32];
                int fd;

                group_ids[n_group_ids++] = t->groups[i]->id;
                /* vfio-pci makes /dev/vfio/N; here most groups have one, some
                 * do not (the verify step fails): both outcomes */
                if (t->groups[i]->id % 5 == 4)
                        continue;
                snprintf(vfio, sizeof vfio, "%s/vfio/%u", dev_root, t->groups[i]->id);
                fd = open(vfio, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
                if (fd < 0)
                        die(vfio, errno);
                close(fd);
        }
        topology_free(t);

        add_vtable("org.pciassign1.Manager", manager_vtable, PATH_MANAGER);
        add_vtable("org.pciassign1.Device", device_vtable, PATH_DEVICE);
        add_vtable("org.pciassign1.Group", group_vtable, PATH_GROUP);
        add_vtable("org.pciassign1.Reservation", reservation_vtable, PATH_RESERVATION);
        add_method("org.freedesktop.DBus.Properties", "Get", "ss", PATH_ANY);
        add_method("org.freedesktop.DBus.Properties", "GetAll", "s", PATH_ANY);
        add_method("org.freedesktop.DBus.Properties", "Set", "ssv", PATH_ANY);
        add_method("org.freedesktop.DBus.Introspectable", "Introspect", "", PATH_ANY);
        add_method("org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "", PATH_MANAGER);
        add_method("org.freedesktop.DBus.Peer", "Ping", "", PATH_ANY);
        add_method("org.pciassign1.Manager", "NoSuchMethod", "", PATH_MANAGER);

        if (trace)
                for (size_t i = 0; i < n_methods; i++)
                        fprintf(stderr, "method %zu %s %s %s\n", i, methods[i].interface, methods[i].member,
                                methods[i].signature);
        start_bus();
        r = connect_bus(&client);
        if (r < 0)
                die("connecting the harness to the bus", r);
        r = sd_bus_add_object(client, NULL, "/org/freedesktop/PolicyKit1/Authority", polkit_object, NULL);
        if (r < 0)
                die("polkit object", r);
        RETRY_EINTR(r, sd_bus_request_name(client, "org.freedesktop.PolicyKit1", 0));
        if (r < 0)
                die("owning org.freedesktop.PolicyKit1", r);
        return 0;
}

/* ---- building calls ---- */

static const char *const words[] = {
        "", "vm1", "guest-a", "other-owner", "persistent", "complete-group", "driver", "bogus",
        "vfio-pci", "pci-stub", "e1000e", "nvme", "x-vfio-pci", "q35", "virt", "pseries", "pc", "r1", "r2",
        "r0", "r18446744073709551615", "org.pciassign1.Manager", "org.pciassign1.Device",
        "org.pciassign1.Group", "org.pciassign1.Reservation", "org.freedesktop.DBus.Properties",
        "0000:00:00.0", "0000:ff:1f.7", "ffff:ff:1f.7", "00:01.0", "0000:00:01.8", "0000:00:01.0\n",
        "../../../devices", "/sys/bus/pci", "%s%n", "\xc3\xa9t\xc3\xa9", "\xe2\x80\xae", "\x7f",
};
#define N_WORDS (sizeof words / sizeof words[0])

/* A string for a D-Bus "s": from the model, the words above, or the
 * input; always valid UTF-8 without NULs (sd-bus refuses others before
 * sending, so they never reach the daemon). */
static char *gen_string(In *in) {
        uint8_t b = in_byte(in);
        char *s;

        switch (b % 8) {
        case 0:
        case 1:
                s = strdup(n_addresses ? addresses[in_byte(in) % n_addresses] : "");
                if (s && (b & 0x80))       /* same address, other spelling */
                        for (char *p = s; *p; p++)
                                if (*p >= 'a' && *p <= 'f')
                                        *p = (char) (*p - 'a' + 'A');
                return s;
        case 2:
        case 3:
                return strdup(words[in_byte(in) % N_WORDS]);
        case 4:
                if (n_property_words)
                        return strdup(property_words[in_byte(in) % n_property_words]);
                return strdup("");
        case 5: {
                /* long: 200 bytes .. 64 KiB of one character */
                size_t len = 200 + (size_t) in_byte(in) * 256;
                char c = (char) (in_byte(in) % 94 + 33);

                s = malloc(len + 1);
                if (s) {
                        memset(s, c, len);
                        s[len] = 0;
                }
                return s;
        }
        default: {
                size_t len = in_byte(in) % 48;

                s = malloc(len + 1);
                if (!s)
                        return NULL;
                for (size_t i = 0; i < len; i++) {
                        uint8_t c = in_byte(in);
                        s[i] = (c == 0 || c >= 0x80) ? '?' : (char) c;
                }
                s[len] = 0;
                return s;
        }
        }
}

/* The length of the complete type at sig (0 if there is none). */
static size_t type_length(const char *sig) {
        size_t n;
        char close;

        switch (*sig) {
        case 'a':
                n = type_length(sig + 1);
                return n ? n + 1 : 0;
        case '(':
        case '{':
                close = *sig == '(' ? ')' : '}';
                n = 1;
                while (sig[n] && sig[n] != close) {
                        size_t k = type_length(sig + n);
                        if (!k)
                                return 0;
                        n += k;
                }
                return sig[n] == close ? n + 1 : 0;
        case 0:
        case ')':
        case '}':
                return 0;
        default:
                return 1;
        }
}

static int object_path(In *in, int kind, char **ret);

static const char *const variant_types[] = { "b", "s", "u", "as", "i", "(sb)", "v", "o", "t", "a{sv}" };

/* Appends one value of the complete type at *sig and advances *sig. */
static int gen_value(sd_bus_message *m, const char **sig, In *in, unsigned depth) {
        char t = **sig;
        size_t len = type_length(*sig);
        int r;

        if (!len)
                return -EINVAL;
        switch (t) {
        case 'y': {
                uint8_t v = in_byte(in);
                r = sd_bus_message_append_basic(m, t, &v);
                break;
        }
        case 'b': {
                int v = in_byte(in) & 1;
                r = sd_bus_message_append_basic(m, t, &v);
                break;
        }
        case 'n':
        case 'q': {
                uint16_t v = (uint16_t) in_u32(in);
                r = sd_bus_message_append_basic(m, t, &v);
                break;
        }
        case 'i':
        case 'u': {
                uint32_t v = in_byte(in) < 200 ? in_byte(in) : in_u32(in);
                r = sd_bus_message_append_basic(m, t, &v);
                break;
        }
        case 'x':
        case 't':
        case 'd': {
                uint64_t v = (uint64_t) in_u32(in) << 32 | in_u32(in);
                r = sd_bus_message_append_basic(m, t, &v);
                break;
        }
        case 's':
        case 'g': {
                char *s = t == 's' ? gen_string(in) : strdup(variant_types[in_byte(in) % 10]);
                if (!s)
                        return -ENOMEM;
                r = sd_bus_message_append_basic(m, t, s);
                free(s);
                break;
        }
        case 'o': {
                char *p = NULL;
                r = object_path(in, in_byte(in) % _PATH_KIND_MAX, &p);
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, t, p);
                free(p);
                break;
        }
        case 'v': {
                const char *vt = variant_types[in_byte(in) % 10];
                if (depth >= MAX_DEPTH)
                        vt = "s";
                r = sd_bus_message_open_container(m, 'v', vt);
                if (r >= 0)
                        r = gen_value(m, &vt, in, depth + 1);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                break;
        }
        case 'a': {
                char elem[64];
                size_t elen = len - 1, count;
                uint8_t c = in_byte(in);

                if (elen >= sizeof elem)
                        return -EINVAL;
                memcpy(elem, *sig + 1, elen);
                elem[elen] = 0;
                /* mostly a few entries; rarely hundreds or past the daemon's
                 * 65536 limit on lists */
                count = c < 240 ? c % 6 : c < 254 ? (size_t) in_byte(in) * 4 : 65537;
                if (depth >= MAX_DEPTH)
                        count = 0;
                r = sd_bus_message_open_container(m, 'a', elem);
                for (size_t i = 0; r >= 0 && i < count; i++) {
                        const char *e = elem;
                        if (elem[0] == '{') {
                                char inner[64];
                                const char *ip = inner;

                                memcpy(inner, elem + 1, elen - 2);
                                inner[elen - 2] = 0;
                                r = sd_bus_message_open_container(m, 'e', inner);
                                while (r >= 0 && *ip)
                                        r = gen_value(m, &ip, in, depth + 1);
                                if (r >= 0)
                                        r = sd_bus_message_close_container(m);
                        } else
                                r = gen_value(m, &e, in, depth + 1);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                break;
        }
        case '(': {
                char inner[64];
                const char *ip = inner;

                if (len - 2 >= sizeof inner)
                        return -EINVAL;
                memcpy(inner, *sig + 1, len - 2);
                inner[len - 2] = 0;
                r = sd_bus_message_open_container(m, 'r', inner);
                while (r >= 0 && *ip)
                        r = gen_value(m, &ip, in, depth + 1);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                break;
        }
        default:
                return -EINVAL;
        }
        *sig += len;
        return r;
}

static int object_path(In *in, int kind, char **ret) {
        char buf[128];
        uint8_t b = in_byte(in);

        switch (kind) {
        case PATH_MANAGER:
                *ret = strdup(PCIASSIGN_PATH);
                break;
        case PATH_DEVICE:
                if (b >= 230) {
                        /* any text, escaped as a label: unknown and hostile names */
                        char *s = gen_string(in);
                        int r = s ? sd_bus_path_encode(PCIASSIGN_DEVICE_PREFIX, s, ret) : -ENOMEM;
                        free(s);
                        return r;
                }
                if (!n_addresses)
                        return -ENOENT;
                return sd_bus_path_encode(PCIASSIGN_DEVICE_PREFIX, addresses[b % n_addresses], ret);
        case PATH_GROUP:
                snprintf(buf, sizeof buf, PCIASSIGN_GROUP_PREFIX "/%u",
                         b >= 230 || !n_group_ids ? (unsigned) in_byte(in) : group_ids[b % n_group_ids]);
                *ret = strdup(buf);
                break;
        case PATH_RESERVATION:
                if (b >= 240) {
                        char *s = gen_string(in);
                        int r = s ? sd_bus_path_encode(PCIASSIGN_RESERVATION_PREFIX, s, ret) : -ENOMEM;
                        free(s);
                        return r;
                }
                snprintf(buf, sizeof buf, PCIASSIGN_RESERVATION_PREFIX "/r%u", b % 6);
                *ret = strdup(buf);
                break;
        default: {
                /* any kind of object, or a path that is none */
                static const char *const odd[] = { "/", "/org", "/org/pciassign1/device", "/org/pciassign1/reservation",
                                                   "/org/pciassign1/group", "/org/pciassign1/nothing",
                                                   "/org/pciassign1/device/_30000_3a00_3a01_2e0/x" };
                if (!(b & 0x80))
                        return object_path(in, b % 4, ret);
                *ret = strdup(odd[b % 7]);
                break;
        }
        }
        return *ret ? 0 : -ENOMEM;
}

/* ---- sending, waiting, checking ---- */

static bool error_is_clear(const sd_bus_error *e) {
        static const char *const standard[] = {
                SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_OBJECT,
                SD_BUS_ERROR_UNKNOWN_INTERFACE, SD_BUS_ERROR_UNKNOWN_PROPERTY, SD_BUS_ERROR_PROPERTY_READ_ONLY,
                SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                SD_BUS_ERROR_NO_MEMORY, SD_BUS_ERROR_INVALID_SIGNATURE, SD_BUS_ERROR_LIMITS_EXCEEDED, NULL
        };

        if (!e->name || !e->message || !*e->message)
                return false;
        if (strncmp(e->name, "org.pciassign1.Error.", 21) == 0)
                return true;
        for (size_t i = 0; standard[i]; i++)
                if (streq(e->name, standard[i]))
                        return true;
        return false;
}

typedef struct Sent {
        const Method *method;
        char *path;
} Sent;

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Sent *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        (void) ret_error;

        FUZZ_CHECK(pending > 0);
        pending--;
        if (trace)
                fprintf(stderr, "  <- %s.%s on %s: %s%s%.200s\n", s->method->interface, s->method->member, s->path,
                        e ? e->name : "ok", e ? ": " : "", e && e->message ? e->message : "");
        if (e && !error_is_clear(e)) {
                fprintf(stderr, "fuzz-dbus: %s.%s on %s: unclear error %s: %s\n", s->method->interface,
                        s->method->member, s->path, e->name ? e->name : "n/a", e->message ? e->message : "n/a");
                FUZZ_CHECK(error_is_clear(e));
        }
        return 0;
}

static void sent_free(void *p) {
        Sent *s = p;
        free(s->path);
        free(s);
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static int on_ping(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        (void) reply;
        (void) userdata;
        (void) ret_error;
        pending--;
        return 0;
}

/* Runs the loop until the daemon is idle: every call it was sent is
 * dispatched (a Ping sent last is answered: the bus keeps the order),
 * every call expecting a reply is answered, no polkit question and no job
 * is left. */
static void run_until_idle(Manager *m) {
        uint64_t deadline = now_usec() + CALL_DEADLINE_USEC;
        int r;

        r = sd_bus_call_method_async(client, NULL, daemon_name, "/", "org.freedesktop.DBus.Peer", "Ping", on_ping,
                                     NULL, "");
        if (r < 0)
                die("Ping", r);
        pending++;
        while (pending > 0 || m->n_rebind_jobs > 0 || polkit_registry_size(m->polkit_registry) > 0) {
                r = sd_event_run(m->event, 100 * 1000);
                if (r < 0)
                        die("sd_event_run", r);
                if (now_usec() > deadline) {
                        fprintf(stderr, "fuzz-dbus: %u call(s) unanswered, %zu job(s) and %zu polkit question(s) left after %llu s\n",
                                pending, m->n_rebind_jobs, polkit_registry_size(m->polkit_registry),
                                CALL_DEADLINE_USEC / 1000000ULL);
                        FUZZ_CHECK(pending == 0 && m->n_rebind_jobs == 0);
                }
        }
}

/* One call from the input.  Returns 0 if sent, 1 if the input could not
 * become a message (nothing sent), negative on set-up errors. */
static int send_call(Manager *m, const char *daemon, In *in) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        uint8_t flags = in_byte(in), sel = in_byte(in), sigsel = in_byte(in);
        const Method *x = &methods[sel % n_methods];
        char *path = NULL;
        const char *sig = x->signature;
        char random_sig[32] = "";
        sd_bus_slot *slot = NULL;
        Sent *s;
        int r;

        if (flags & 0x01)
                /* wait for what was sent before (Reserve, then Prepare) */
                run_until_idle(m);
        r = object_path(in, (flags & 0x06) == 0x06 ? in_byte(in) % _PATH_KIND_MAX : x->path_kind, &path);
        if (r < 0)
                return r == -ENOMEM ? r : 1;
        r = sd_bus_message_new_method_call(client, &msg, daemon, path, x->interface, x->member);
        if (r < 0) {
                /* sd-bus refuses what it would not send (an object path
                 * past its length limit): no call, as from any peer */
                free(path);
                return r == -ENOMEM ? r : 1;
        }
        if (sigsel >= 224) {
                /* a signature of the input's choice: what sd-bus refuses
                 * before the handler, and what a handler reads wrongly */
                static const char *const tokens[] = { "s", "b", "u", "as", "a(sb)", "a{sv}", "o", "v",
                                                      "ay", "(ss)", "t", "d", "g", "i" };
                size_t ntok = sigsel % 4;
                for (size_t i = 0; i < ntok; i++)
                        strcat(random_sig, tokens[in_byte(in) % (sizeof tokens / sizeof tokens[0])]);
                sig = random_sig;
        }
        while (*sig) {
                r = gen_value(msg, &sig, in, 0);
                if (r < 0) {
                        free(path);
                        return r == -ENOMEM ? r : 1;
                }
        }
        if (flags & 0x08)
                (void) sd_bus_message_set_allow_interactive_authorization(msg, 1);
        if (trace)
                fprintf(stderr, "-> %s.%s on %s (%s)%s%s\n", x->interface, x->member, path,
                        sigsel >= 224 ? random_sig : x->signature, flags & 0x01 ? " after the replies" : "",
                        flags & 0x10 ? " no reply" : "");
        if (flags & 0x10) {
                /* no reply wanted (a job still runs: waited for by its count) */
                (void) sd_bus_message_set_expect_reply(msg, 0);
                r = sd_bus_send(client, msg, NULL);
                free(path);
                return r < 0 ? r : 0;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
                free(path);
                return -ENOMEM;
        }
        s->method = x;
        s->path = path;
        r = sd_bus_call_async(client, &slot, msg, on_reply, s, CALL_DEADLINE_USEC);
        if (r < 0) {
                sent_free(s);
                return r;
        }
        /* the bus owns the slot; s goes with it, once the reply came */
        (void) sd_bus_slot_set_destroy_callback(slot, sent_free);
        (void) sd_bus_slot_set_floating(slot, 1);
        sd_bus_slot_unref(slot);
        pending++;
        return 0;
}

static sd_bus_message *describe_reply;

static int on_describe(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        (void) userdata;
        (void) ret_error;
        describe_reply = sd_bus_message_ref(reply);
        pending--;
        return 0;
}

/* Describe must still work and list what the daemon holds. */
static void check_describe(Manager *m, const char *daemon) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        sd_bus_message *reply;
        json_object *root, *devs, *res;
        const char *text = NULL;
        int r;

        r = sd_bus_message_new_method_call(client, &msg, daemon, PCIASSIGN_PATH, "org.pciassign1.Manager",
                                           "Describe");
        if (r < 0)
                die("Describe", r);
        describe_reply = NULL;
        r = sd_bus_call_async(client, NULL, msg, on_describe, NULL, CALL_DEADLINE_USEC);
        if (r < 0)
                die("Describe", r);
        pending++;
        run_until_idle(m);
        reply = describe_reply;
        describe_reply = NULL;
        FUZZ_CHECK(reply && !sd_bus_message_is_method_error(reply, NULL));
        r = sd_bus_message_read(reply, "s", &text);
        FUZZ_CHECK(r > 0);
        root = json_tokener_parse(text);
        FUZZ_CHECK(root);
        FUZZ_CHECK(json_object_object_get_ex(root, "devices", &devs));
        FUZZ_CHECK(json_object_object_get_ex(root, "reservations", &res));
        FUZZ_CHECK((size_t) json_object_array_length(devs) == m->topology->n_devices + m->missing->n_devices);
        FUZZ_CHECK((size_t) json_object_array_length(res) == m->n_reservations);
        json_object_put(root);
        sd_bus_message_unref(reply);
}

/* What the daemon acknowledged is on disk, exactly. */
static void check_store(Manager *m) {
        StoreData d = {};
        char *moved = NULL;
        int r;

        r = store_load(state_dir, &d, &moved);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(d.n_reservations == m->n_reservations);
        for (size_t i = 0; i < d.n_reservations; i++) {
                ManagedReservation *mr = manager_find_reservation(m, d.reservations[i]->id);
                FUZZ_CHECK(mr);
                FUZZ_CHECK(mr->data->state == d.reservations[i]->state);
                FUZZ_CHECK(mr->data->n_functions == d.reservations[i]->n_functions);
        }
        store_data_done(&d);
        free(moved);
}

static Manager *manager_up(void) {
        ManagerOptions opts = {
                .job_timeout_usec = 10ULL * 1000000ULL,
                .sysfs_root = sys_root,
                .dev_root = dev_root,
        };
        Manager *m = NULL;
        int r;

        r = manager_new(&opts, &m);
        if (r < 0)
                die("manager_new", r);
        m->topology = read_topology();
        r = manager_load_reservations(m);
        if (r < 0)
                die("manager_load_reservations", r);
        manager_sync_missing(m);
        r = manager_rebind_start(m);
        if (r < 0)
                die("manager_rebind_start", r);
        manager_invalidate_verdicts(m);
        r = connect_bus(&m->bus);
        if (r < 0)
                die("connecting the daemon to the bus", r);
        r = manager_dbus_export(m);
        if (r < 0)
                die("manager_dbus_export", r);
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                die("sd_bus_attach_event", r);
        return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        In in = { data, size };
        const char *daemon = NULL;
        Manager *m;
        int r;

        atomic_store(&input_started, mono_sec());
        if (tree_dirty)
                build_tree();
        empty_dir(state_dir);
        empty_dir(run_dir);
        for (size_t i = 0; i < sizeof polkit_answers; i++)
                polkit_answers[i] = in_byte(&in);
        polkit_next = 0;
        pending = 0;

        m = manager_up();
        r = sd_bus_attach_event(client, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                die("attaching the harness", r);
        RETRY_EINTR(r, sd_bus_get_unique_name(m->bus, &daemon));
        if (r < 0)
                die("unique name", r);
        daemon_name = daemon;

        for (unsigned i = 0; i < MAX_CALLS && in.n > 0; i++) {
                r = send_call(m, daemon, &in);
                if (r < 0)
                        die("sending a call", r);
        }
        run_until_idle(m);
        check_describe(m, daemon);
        check_store(m);

        (void) sd_bus_detach_event(client);
        manager_free(m);
        /* the fake kernel logs every write it played: then the tree is
         * no longer the recorded one */
        {
                char log[PATH_MAX + 32];
                snprintf(log, sizeof log, "%s/.fakekernel-log", sys_root);
                tree_dirty = access(log, F_OK) == 0;
        }
        /* what the daemon sent after the last reply (signals): drop it */
        while (sd_bus_process(client, NULL) > 0)
                ;
        atomic_store(&input_started, 0);
        return 0;
}
