/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <umockdev.h>
#include <unistd.h>

#include "host-usage.h"

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HostUsage, host_usage_done)

/* Runs in-process on a umockdev testbed (LD_PRELOAD): the recorded q35 guest
 * of tests/data/testbeds plus the block and net devices a host would have on
 * top of it.  The /proc tables come from files: tests/data/host-usage/ for a
 * whole host, a temporary directory for the edge cases. */

typedef struct Fixture {
        UMockdevTestbed *tb;
        const char *root;    /* the testbed's root directory */
        char *proc;          /* temporary directory for the /proc tables */
} Fixture;

#define Q35 "/sys/devices/pci0000:00"
#define NVME Q35 "/0000:00:06.0/0000:01:00.0/nvme/nvme0/nvme0n1"
#define SATA Q35 "/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
#define VBLOCK "/sys/devices/virtual/block"
#define VNET "/sys/devices/virtual/net"
#define NVME2 Q35 "/0000:00:0b.0/0000:0a:00.0/nvme/nvme1/nvme1n1"
#define CTRL2 Q35 "/0000:00:0c.0/0000:0b:00.0/nvme/nvme2"
#define CTRL3 Q35 "/0000:00:0c.0/0000:0b:00.1/nvme/nvme3"
#define SUBSYS "/sys/devices/virtual/nvme-subsystem/nvme-subsys2"
#define SDB Q35 "/0000:00:08.0/host1/target1:0:0/1:0:0:0/block/sdb"
#define SDC Q35 "/0000:00:0a.0/0000:06:00.0/0000:07:01.0/host2/target2:0:0/2:0:0:0/block/sdc"

static const char *data_dir(void) {
        const char *dir = g_getenv("PCI_ASSIGND_TEST_DATA");

        if (!dir)
                g_error("PCI_ASSIGND_TEST_DATA is not set (meson test sets it to <source>/tests/data)");
        return dir;
}

/* A symlink inside the testbed at `from` (a /sys path) pointing at `to`
 * (a /sys path), relative like the kernel's.  Existing ones are kept:
 * umockdev creates /sys/dev/block links itself for paths with /block/. */
static void tb_symlink(Fixture *f, const char *from, const char *to) {
        g_autofree char *path = g_build_filename(f->root, from, NULL);
        g_autofree char *dir = g_path_get_dirname(path);
        g_autoptr(GString) target = g_string_new(NULL);
        struct stat st;

        g_assert_true(g_str_has_prefix(from, "/sys/"));
        g_assert_true(g_str_has_prefix(to, "/sys/"));
        if (lstat(path, &st) == 0)
                return;
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        /* one "../" per directory between /sys and the link */
        for (const char *s = from + 5; (s = strchr(s, '/')); s++)
                g_string_append(target, "../");
        g_string_append(target, to + 5);
        g_assert_cmpint(symlink(target->str, path), ==, 0);
}

/* A block device with its /dev node (umockdev fakes S_IFBLK and st_rdev
 * for it) and its /sys/dev/block link. */
static void add_block(Fixture *f, const char *syspath, const char *majmin, bool partition) {
        g_autoptr(GError) error = NULL;
        g_autofree char *name = g_path_get_basename(syspath);
        g_autofree char *link = g_strconcat("/sys/dev/block/", majmin, NULL);
        g_autofree char *desc = NULL;

        desc = g_strdup_printf("P: %s\nN: %s\nE: SUBSYSTEM=block\nE: DEVNAME=/dev/%s\n"
                               "E: DEVTYPE=%s\nA: dev=%s\n%s\n",
                               syspath + 4, name, name, partition ? "partition" : "disk", majmin,
                               partition ? "A: partition=1\n" : "");
        g_assert_true(umockdev_testbed_add_from_string(f->tb, desc, &error));
        g_assert_no_error(error);
        tb_symlink(f, link, syspath);
}

/* A whole disk with extra udev properties ("E: K=V\n" lines). */
static void add_block_props(Fixture *f, const char *syspath, const char *majmin, const char *props) {
        g_autoptr(GError) error = NULL;
        g_autofree char *name = g_path_get_basename(syspath);
        g_autofree char *link = g_strconcat("/sys/dev/block/", majmin, NULL);
        g_autofree char *desc = NULL;

        desc = g_strdup_printf("P: %s\nN: %s\nE: SUBSYSTEM=block\nE: DEVNAME=/dev/%s\n"
                               "E: DEVTYPE=disk\n%sA: dev=%s\n\n",
                               syspath + 4, name, name, props, majmin);
        g_assert_true(umockdev_testbed_add_from_string(f->tb, desc, &error));
        g_assert_no_error(error);
        tb_symlink(f, link, syspath);
}

/* A file in the testbed's /sys (directories made as needed). */
static void tb_file(Fixture *f, const char *sys, const char *contents) {
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_build_filename(f->root, sys, NULL);
        g_autofree char *dir = g_path_get_dirname(path);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(path, contents, -1, &error));
        g_assert_no_error(error);
}

static void add_net_attrs(Fixture *f, const char *syspath, int ifindex, const char *more) {
        g_autoptr(GError) error = NULL;
        g_autofree char *name = g_path_get_basename(syspath);
        g_autofree char *desc = NULL;

        desc = g_strdup_printf("P: %s\nE: SUBSYSTEM=net\nE: INTERFACE=%s\nA: ifindex=%d\n%s\n", syspath + 4, name,
                               ifindex, more);
        g_assert_true(umockdev_testbed_add_from_string(f->tb, desc, &error));
        g_assert_no_error(error);
}

static void add_net(Fixture *f, const char *syspath, int ifindex) {
        add_net_attrs(f, syspath, ifindex, "");
}

/* One testbed for the whole run: building one takes seconds (umockdev
 * sends a uevent per device), and no test changes what is there before. */
static UMockdevTestbed *testbed;
static char *testbed_root;

static void testbed_build(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *q35 = g_build_filename(data_dir(), "testbeds", "q35-vm.umockdev", NULL);
        Fixture fixture = {}, *f = &fixture;

        testbed = umockdev_testbed_new();
        testbed_root = umockdev_testbed_get_root_dir(testbed);
        f->tb = testbed;
        f->root = testbed_root;
        g_assert_true(umockdev_testbed_add_from_file(f->tb, q35, &error));
        g_assert_no_error(error);

        /* NVMe 01:00.0 behind root port 00:06.0: / on p2, LUKS on p3 with
         * LVM on top (dm-1 -> dm-0 -> p3) */
        add_block(f, NVME, "259:0", false);
        add_block(f, NVME "/nvme0n1p2", "259:2", true);
        add_block(f, NVME "/nvme0n1p3", "259:3", true);
        add_block(f, VBLOCK "/dm-0", "253:0", false);
        tb_symlink(f, VBLOCK "/dm-0/slaves/nvme0n1p3", NVME "/nvme0n1p3");
        add_block(f, VBLOCK "/dm-1", "253:1", false);
        tb_symlink(f, VBLOCK "/dm-1/slaves/dm-0", VBLOCK "/dm-0");

        /* AHCI 00:1f.2 on the root bus: sda1 (btrfs), sda2 (swap), sda3 under
         * a partitioned md array */
        add_block(f, SATA, "8:0", false);
        add_block(f, SATA "/sda1", "8:1", true);
        add_block(f, SATA "/sda2", "8:2", true);
        add_block(f, SATA "/sda3", "8:3", true);
        add_block(f, VBLOCK "/md0", "9:0", false);
        tb_symlink(f, VBLOCK "/md0/slaves/sda3", SATA "/sda3");
        add_block(f, VBLOCK "/md0/md0p1", "259:9", true);

        /* devices that hang off no PCI function */
        add_block(f, VBLOCK "/loop0", "7:0", false);
        add_block(f, VBLOCK "/zram0", "251:0", false);
        add_block(f, VBLOCK "/nbd0", "43:0", false);
        add_block(f, VBLOCK "/nbd0/nbd0p1", "43:1", true);

        /* a stack that loops (dm-7 <-> dm-8), one that leaves sysfs, and
         * dm-8 really sitting on nvme0n1p2 */
        add_block(f, VBLOCK "/dm-7", "253:7", false);
        add_block(f, VBLOCK "/dm-8", "253:8", false);
        tb_symlink(f, VBLOCK "/dm-7/slaves/dm-8", VBLOCK "/dm-8");
        tb_symlink(f, VBLOCK "/dm-8/slaves/dm-7", VBLOCK "/dm-7");
        tb_symlink(f, VBLOCK "/dm-8/slaves/nvme0n1p2", NVME "/nvme0n1p2");
        add_block(f, VBLOCK "/dm-9", "253:9", false);
        {
                g_autofree char *evil = g_build_filename(f->root, VBLOCK "/dm-9/slaves", NULL);
                g_autofree char *evil1 = g_build_filename(evil, "up", NULL);
                g_autofree char *evil2 = g_build_filename(evil, "abs", NULL);

                g_assert_cmpint(g_mkdir_with_parents(evil, 0755), ==, 0);
                /* lexically /tmp/sys/devices/0000:00:05.0 and
                 * /srv/sys/devices/0000:00:05.1: outside sysfs */
                g_assert_cmpint(symlink("../../../../../../../../../../../tmp/sys/devices/0000:00:05.0", evil1), ==, 0);
                g_assert_cmpint(symlink("/srv/sys/devices/0000:00:05.1", evil2), ==, 0);
        }

        /* btrfs raid1 over sda1 and nvme1n1 (0a:00.0 behind 00:0b.0); a
         * btrfs on loop0, which hangs off nothing */
        add_block(f, NVME2, "259:10", false);
        tb_symlink(f, "/sys/fs/btrfs/0b9a5c33-7d1e-4d53-9a3e-6f1e1c2b3a4d/devices/sda1", SATA "/sda1");
        tb_symlink(f, "/sys/fs/btrfs/0b9a5c33-7d1e-4d53-9a3e-6f1e1c2b3a4d/devices/nvme1n1", NVME2);
        tb_symlink(f, "/sys/fs/btrfs/5f7c1d2e-0000-4000-8000-000000000001/devices/loop0", VBLOCK "/loop0");
        tb_file(f, "/sys/fs/btrfs/features/raid1c34", "0\n");

        /* NVMe native multipath: head nvme2n1 of nvme-subsys2, reached over
         * controllers nvme2 (0b:00.0) and nvme3 (0b:00.1) */
        tb_file(f, CTRL2 "/cntlid", "1\n");
        tb_file(f, CTRL3 "/cntlid", "2\n");
        add_block(f, SUBSYS "/nvme2n1", "259:20", false);
        add_block(f, SUBSYS "/nvme2n1/nvme2n1p1", "259:21", true);
        tb_symlink(f, SUBSYS "/nvme2", CTRL2);
        tb_symlink(f, SUBSYS "/nvme3", CTRL3);

        /* loop1 backed by (a file on) nvme1n1, loop2 by a file that is gone */
        add_block(f, VBLOCK "/loop1", "7:1", false);
        tb_file(f, VBLOCK "/loop1/loop/backing_file", "/dev/nvme1n1\n");
        add_block(f, VBLOCK "/loop2", "7:2", false);
        tb_file(f, VBLOCK "/loop2/loop/backing_file", "/var/lib/images/gone.img (deleted)\n");

        /* ZFS pool rpool over sdb (00:08.0) and sdc (07:01.0), as blkid
         * labels its members; tank's member is not there */
        add_block_props(f, SDB, "8:16", "E: ID_FS_TYPE=zfs_member\nE: ID_FS_LABEL=rpool\nE: ID_FS_USAGE=filesystem\n");
        add_block_props(f, SDC, "8:32", "E: ID_FS_TYPE=zfs_member\nE: ID_FS_LABEL=rpool\nE: ID_FS_USAGE=filesystem\n");

        /* bcache0 over a backing partition of nvme0 and a cache on sda */
        add_block(f, VBLOCK "/bcache0", "250:0", false);
        tb_symlink(f, VBLOCK "/bcache0/slaves/nvme0n1p3", NVME "/nvme0n1p3");
        tb_symlink(f, VBLOCK "/bcache0/slaves/sda3", SATA "/sda3");

        /* e1000e 00:02.0 (RCiEP), 00:03.0 under bridge br0, 02:00.0 behind
         * root port 00:07.0; lo */
        add_net(f, Q35 "/0000:00:02.0/net/enp0s2", 2);
        add_net(f, Q35 "/0000:00:03.0/net/enp0s3", 3);
        add_net(f, Q35 "/0000:00:07.0/0000:02:00.0/net/enp2s0", 4);
        add_net(f, VNET "/br0", 5);
        tb_symlink(f, VNET "/br0/lower_enp0s3", Q35 "/0000:00:03.0/net/enp0s3");
        add_net_attrs(f, VNET "/lo", 1, "A: type=772\n");
        /* an active-backup bond over both functions of 00:05, a VLAN on
         * it, a macvlan on enp2s0 */
        add_net(f, Q35 "/0000:00:05.0/net/enp0s5f0", 10);
        add_net(f, Q35 "/0000:00:05.1/net/enp0s5f1", 11);
        add_net(f, VNET "/bond0", 12);
        tb_symlink(f, VNET "/bond0/lower_enp0s5f0", Q35 "/0000:00:05.0/net/enp0s5f0");
        tb_symlink(f, VNET "/bond0/lower_enp0s5f1", Q35 "/0000:00:05.1/net/enp0s5f1");
        add_net(f, VNET "/bond0.100", 13);
        tb_symlink(f, VNET "/bond0.100/lower_bond0", VNET "/bond0");
        add_net(f, VNET "/mv0", 14);
        tb_symlink(f, VNET "/mv0/lower_enp2s0", Q35 "/0000:00:07.0/0000:02:00.0/net/enp2s0");
        /* devices with nothing below them: tunnels whose underlay routing
         * chooses (WireGuard, a VXLAN without a device, a tap of a VPN
         * daemon), a dummy, and one whose type cannot be read */
        add_net_attrs(f, VNET "/wg0", 20, "A: type=65534\nE: DEVTYPE=wireguard\n");
        add_net_attrs(f, VNET "/vx0", 21, "A: type=1\nE: DEVTYPE=vxlan\n");
        add_net_attrs(f, VNET "/tap0", 22, "A: type=1\nA: tun_flags=0x1002\n");
        add_net_attrs(f, VNET "/dummy0", 23, "A: type=1\n");
        add_net_attrs(f, VNET "/what0", 24, "");

        /* names a route table must never make us follow: were "../../x" or
         * an overlong name used as a path, they would mark 00:05.0/00:05.1
         * (/sys/x is written as if it were in class/net, where it would
         * be read from) */
        {
                g_autofree char *x = g_build_filename(f->root, "sys", "x", NULL);
                g_assert_cmpint(symlink("../../devices/pci0000:00/0000:00:05.0", x), ==, 0);
        }
        tb_symlink(f, "/sys/class/net/abcdefghijklmnopqrstuvwxyz", Q35 "/0000:00:05.1");
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        if (!testbed)
                testbed_build();
        f->tb = testbed;
        f->root = testbed_root;
        f->proc = g_dir_make_tmp("test-host-usage-XXXXXX", &error);
        g_assert_no_error(error);
        g_setenv("PCI_ASSIGND_PROC_DIR", f->proc, TRUE);

        /* udev's database as the daemon reads it: sdb and sdc are members
         * of rpool (blkid's labels, synthesised: ZFS cannot be built in the
         * test VM), nvme0n1p2 is an ext4 */
        {
                g_autofree char *udev = g_build_filename(f->proc, "udev-data", NULL);
                static const char *const files[][2] = {
                        { "b8:16", "S:disk/by-id/ata-QEMU_HARDDISK_QM00002\nE:ID_FS_TYPE=zfs_member\n"
                                   "E:ID_FS_LABEL=rpool\nE:ID_FS_USAGE=filesystem\nG:systemd\n" },
                        { "b8:32", "E:ID_FS_LABEL=rpool\nE:ID_FS_TYPE=zfs_member\n" },
                        { "b259:2", "E:ID_FS_TYPE=ext4\nE:ID_FS_LABEL=rpool\n" },
                        { "c10:200", "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=rpool\n" },
                };

                g_assert_cmpint(g_mkdir(udev, 0755), ==, 0);
                for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                        g_autofree char *p = g_build_filename(udev, files[i][0], NULL);

                        g_assert_true(g_file_set_contents(p, files[i][1], -1, NULL));
                }
        }
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        static const char *const names[] = { "mountinfo", "swaps", "route", "ipv6_route", "rtnetlink" };
        g_autofree char *udev = g_build_filename(f->proc, "udev-data", NULL);
        g_autoptr(GDir) d = g_dir_open(udev, 0, NULL);
        const char *e;

        while (d && (e = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(udev, e, NULL);

                g_assert_cmpint(g_unlink(p), ==, 0);
        }
        if (d)
                g_assert_cmpint(g_rmdir(udev), ==, 0);

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                g_autofree char *p = g_build_filename(f->proc, names[i], NULL);
                struct stat st;

                if (lstat(p, &st) < 0)
                        continue;
                g_assert_cmpint(S_ISDIR(st.st_mode) ? g_rmdir(p) : g_unlink(p), ==, 0);
        }
        g_assert_cmpint(g_rmdir(f->proc), ==, 0);
        g_free(f->proc);
        g_unsetenv("PCI_ASSIGND_PROC_DIR");
}

static void write_proc(Fixture *f, const char *name, const char *contents) {
        g_autoptr(GError) error = NULL;
        g_autofree char *p = g_build_filename(f->proc, name, NULL);

        g_assert_true(g_file_set_contents(p, contents, -1, &error));
        g_assert_no_error(error);
}

static void remove_proc(Fixture *f, const char *name) {
        g_autofree char *p = g_build_filename(f->proc, name, NULL);

        g_assert_cmpint(g_unlink(p), ==, 0);
}

static PciAddress addr(const char *s) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(s, &a), ==, 0);
        return a;
}

/* Computes with the defaults (so $PCI_ASSIGND_PROC_DIR and the testbed's
 * /sys) and checks the invariants every result must hold. */
static void compute(HostUsage *u) {
        g_assert_cmpint(host_usage_compute(NULL, u), ==, 0);
        for (size_t i = 0; i < u->n_entries; i++) {
                const char *r = u->entries[i].reason;

                g_assert_nonnull(r);
                g_assert_true(g_utf8_validate(r, -1, NULL));
                g_assert_cmpuint(strlen(r), <, 4096);
                if (i > 0)
                        g_assert_cmpint(pci_address_compare(&u->entries[i - 1].address, &u->entries[i].address), <, 0);
                g_assert_true(host_usage_lookup(u, &u->entries[i].address) == r);
        }
}

/* The result holds exactly these (address, reason) pairs, in this order;
 * a NULL reason only checks the address. */
static void assert_usage(const HostUsage *u, const char *const *expected) {
        size_t n = 0;

        for (; expected[2 * n]; n++) {
                char buf[PCI_ADDRESS_STRLEN];

                if (n >= u->n_entries)
                        g_error("missing %s", expected[2 * n]);
                g_assert_cmpstr(pci_address_format(&u->entries[n].address, buf), ==, expected[2 * n]);
                if (expected[2 * n + 1])
                        g_assert_cmpstr(u->entries[n].reason, ==, expected[2 * n + 1]);
        }
        for (size_t i = n; i < u->n_entries; i++) {
                char buf[PCI_ADDRESS_STRLEN];
                g_test_message("unexpected %s: %s", pci_address_format(&u->entries[i].address, buf),
                               u->entries[i].reason);
        }
        g_assert_cmpuint(u->n_entries, ==, n);
}

#define ROOT_REASON "mounted filesystem / from /dev/nvme0n1p2 (259:2)"

static void test_root_partition(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        /* only mountinfo: missing swaps and route tables are "none" */
        write_proc(f, "mountinfo", "26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n");
        compute(&u);
        /* the controller AND the root port above it */
        assert_usage(&u, (const char *[]) {
                "0000:00:06.0", ROOT_REASON,
                "0000:01:00.0", ROOT_REASON,
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        g_assert_cmpstr(host_usage_lookup(&u, &(PciAddress) { .bus = 1 }), ==, ROOT_REASON);
        g_assert_null(host_usage_lookup(&u, &(PciAddress) { .bus = 1, .function = 1 }));
        g_assert_null(host_usage_lookup(&u, &(PciAddress) { .domain = 1, .bus = 1 }));
}

static void test_virtual(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        write_proc(f, "mountinfo",
                   "22 26 0:21 / /proc rw,nosuid - proc proc rw\n"
                   "23 26 0:5 / /dev rw,nosuid - devtmpfs udev rw\n"
                   "25 26 0:23 / /run rw - tmpfs tmpfs rw\n"
                   "42 26 0:40 / /merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b\n"
                   /* major 0 with a /dev source that is no PCI device */
                   "43 26 0:41 / /snap rw - btrfs /dev/loop0 rw\n"
                   /* a real device number, but a virtual device */
                   "44 26 7:0 / /snap/core22/1 ro - squashfs /dev/loop0 ro\n"
                   /* a device sysfs does not know */
                   "45 26 4095:1048575 / /gone rw - ext4 /dev/vdz rw\n");
        write_proc(f, "swaps", "Filename Type Size Used Priority\n/dev/zram0 partition 4194300 0 100\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_btrfs(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        /* btrfs has anonymous device numbers: the source names the device */
        write_proc(f, "mountinfo", "43 26 0:41 /@srv /srv rw - btrfs /dev/sda1 rw,subvol=/@srv\n");
        compute(&u);
        /* and the other device of the raid1 */
        assert_usage(&u, (const char *[]) {
                "0000:00:0b.0", "mounted filesystem /srv: btrfs device 259:10 of /dev/sda1",
                "0000:00:1f.2", "mounted filesystem /srv from /dev/sda1 (8:1)",
                "0000:0a:00.0", "mounted filesystem /srv: btrfs device 259:10 of /dev/sda1",
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);

        /* sources that are not looked at: the btrfs's devices are then not
         * known, and the result says so (fail closed) */
        const char *const unknown[] = {
                "44 26 0:42 / /a rw - btrfs /dev/../dev/nvme0n1p2 rw\n",
                "45 26 0:43 / /b rw - btrfs nvme0n1p2 rw\n",
                "46 26 0:44 / /c rw - btrfs /dev/nonexistent rw\n",
                /* a device sysfs lists in no btrfs */
                "47 26 0:45 / /d rw - btrfs /dev/nvme0n1p2 rw\n",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
                write_proc(f, "mountinfo", unknown[i]);
                compute(&u);
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
                host_usage_done(&u);
        }
}

static void test_nvme_multipath(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        static const char *const why = "mounted filesystem /var from /dev/nvme2n1p1 (259:21)";

        write_proc(f, "mountinfo", "50 26 259:21 / /var rw - xfs /dev/nvme2n1p1 rw\n");
        compute(&u);
        /* both controllers of the subsystem, and the port above them */
        assert_usage(&u, (const char *[]) {
                "0000:00:0c.0", why,
                "0000:0b:00.0", why,
                "0000:0b:00.1", why,
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_loop(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        static const char *const why = "mounted filesystem /mnt/img from /dev/loop1 (7:1)";

        write_proc(f, "mountinfo", "51 26 7:1 / /mnt/img rw - ext4 /dev/loop1 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { "0000:00:0b.0", why, "0000:0a:00.0", why, NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);

        /* the backing file is gone: not known */
        write_proc(f, "mountinfo", "52 26 7:2 / /mnt/old rw - ext4 /dev/loop2 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { NULL });
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
}

static void test_nbd(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        /* an NBD disk's server is behind a NIC sysfs does not name: the
         * NICs the host depends on are not known (fail closed) */
        write_proc(f, "mountinfo", "54 26 43:1 / /srv/nbd rw - ext4 /dev/nbd0p1 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { NULL });
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
        host_usage_done(&u);
        /* zram is as virtual, but local */
        write_proc(f, "mountinfo", "55 26 251:0 / /srv/z rw - ext4 /dev/zram0 rw\n");
        compute(&u);
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_bcache(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        static const char *const why = "mounted filesystem /srv from /dev/bcache0 (250:0)";

        write_proc(f, "mountinfo", "53 26 250:0 / /srv rw - ext4 /dev/bcache0 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { "0000:00:06.0", why, "0000:00:1f.2", why, "0000:01:00.0", why, NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_zfs(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *kstat = g_build_filename(f->proc, "zfs-kstat", NULL);
        g_autofree char *pool = g_build_filename(kstat, "rpool", NULL);
        g_autofree char *state = g_build_filename(pool, "state", NULL);
        g_autofree char *arc = g_build_filename(kstat, "arcstats", NULL);
        static const char *const root =
                "mounted filesystem / from rpool/ROOT/pve-1 (ZFS pool rpool)";

        /* Proxmox root on ZFS: the source is a dataset, not a device */
        write_proc(f, "mountinfo",
                   "60 1 0:46 / / rw,relatime shared:1 - zfs rpool/ROOT/pve-1 rw,xattr,noacl\n"
                   "61 60 0:47 / /var/lib/vz rw - zfs rpool/data rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:08.0", NULL,
                "0000:00:0a.0", NULL,
                "0000:06:00.0", NULL,
                "0000:07:01.0", NULL,
                NULL });
        g_assert_true(g_str_has_prefix(u.entries[0].reason, root));
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);

        /* imported but nothing mounted (zvols for guests): kstat shows it */
        write_proc(f, "mountinfo", "");
        g_assert_cmpint(g_mkdir_with_parents(pool, 0755), ==, 0);
        g_assert_true(g_file_set_contents(state, "ONLINE\n", -1, NULL));
        g_assert_true(g_file_set_contents(arc, "13 1 0x01 123 33456 1 2\n", -1, NULL));
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:08.0", "imported (ZFS pool rpool)",
                "0000:00:0a.0", "imported (ZFS pool rpool)",
                "0000:06:00.0", "imported (ZFS pool rpool)",
                "0000:07:01.0", "imported (ZFS pool rpool)",
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);
        g_assert_cmpint(g_unlink(state), ==, 0);
        g_assert_cmpint(g_rmdir(pool), ==, 0);
        g_assert_cmpint(g_unlink(arc), ==, 0);
        g_assert_cmpint(g_rmdir(kstat), ==, 0);

        /* a pool whose members udev does not know: fail closed */
        write_proc(f, "mountinfo", "62 1 0:48 / /tank rw - zfs tank rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { NULL });
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
}

static void test_stacked(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        static const char *const home = "mounted filesystem /home from /dev/mapper/vg-home (253:1)";

        /* LVM on LUKS on nvme0n1p3 */
        write_proc(f, "mountinfo", "40 26 253:1 / /home rw - ext4 /dev/mapper/vg-home rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:06.0", home,
                "0000:01:00.0", home,
                NULL });
        host_usage_done(&u);

        /* a partition of an md array: the slaves are on the whole array */
        write_proc(f, "mountinfo", "40 26 259:9 / /data rw - ext4 /dev/md0p1 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:1f.2", "mounted filesystem /data from /dev/md0p1 (259:9)",
                NULL });
        host_usage_done(&u);

        /* a loop in slaves/ ends, and dm-8's real slave is found */
        write_proc(f, "mountinfo", "40 26 253:7 / /loop rw - ext4 /dev/dm-7 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:06.0", "mounted filesystem /loop from /dev/dm-7 (253:7)",
                "0000:01:00.0", NULL,
                NULL });
        host_usage_done(&u);

        /* slaves that point out of sysfs are not followed */
        write_proc(f, "mountinfo", "40 26 253:9 / /evil rw - ext4 /dev/dm-9 rw\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { NULL });
}

static void test_swap(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        write_proc(f, "swaps",
                   "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                   "/dev/sda2                               partition\t8388604\t\t0\t\t-2\n"
                   "/dev/zram0                              partition\t4194300\t\t0\t\t100\n"
                   "/swapfile\\040(deleted)                  file\t\t1048572\t\t0\t\t-3\n"
                   "/nonexistent/swapfile                   file\t\t1048572\t\t0\t\t-4\n"
                   "/dev/nvme0n1p2 partition\n"
                   "relative partition 1 0 -5\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:1f.2", "active swap /dev/sda2 (8:2)",
                NULL });
        /* a swap file that is gone (or not visible here) is still in use,
         * on a device we cannot name: fail closed */
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
        host_usage_done(&u);

        /* a /dev this process does not see: sysfs names the device */
        write_proc(f, "swaps",
                   "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                   "/dev/sda2                               partition\t8388604\t\t0\t\t-2\n"
                   "/dev/zram0                              partition\t4194300\t\t0\t\t100\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:1f.2", "active swap /dev/sda2 (8:2)",
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_swap_file(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *file = g_build_filename(f->proc, "swaps", NULL);
        g_autofree char *majmin = NULL, *contents = NULL, *reason = NULL, *link = NULL, *lpath = NULL;
        struct stat st;

        /* the swap file is the swaps table itself: what matters is the
         * filesystem it is on, our temporary directory */
        write_proc(f, "swaps", "");
        g_assert_cmpint(stat(file, &st), ==, 0);
        if (major(st.st_dev) == 0) {
                g_test_skip("the temporary directory is on a filesystem without a block device");
                return;
        }
        majmin = g_strdup_printf("%u:%u", major(st.st_dev), minor(st.st_dev));
        link = g_strconcat("/sys/dev/block/", majmin, NULL);
        lpath = g_build_filename(f->root, link, NULL);
        if (g_file_test(lpath, G_FILE_TEST_EXISTS)) {
                g_test_skip("the temporary directory's device number is taken by a test device");
                return;
        }
        /* a disk behind root port 00:0b.0 with that number */
        add_block(f, Q35 "/0000:00:0b.0/0000:0a:00.0/host9/target9:0:0/9:0:0:0/block/sdz", majmin, false);

        contents = g_strdup_printf("Filename Type Size Used Priority\n%s file 1048572 0 -2\n", file);
        write_proc(f, "swaps", contents);
        compute(&u);
        reason = g_strdup_printf("active swap file %s on %s", file, majmin);
        assert_usage(&u, (const char *[]) {
                "0000:00:0b.0", reason,
                "0000:0a:00.0", reason,
                NULL });
}

static void test_routes(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *huge = g_strnfill(200000, 'e');
        g_autofree char *route = NULL;

        route = g_strdup_printf(
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                "enp0s2\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0   \n"
                /* not default routes */
                "enp2s0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
                "enp2s0\t00000000\t00000000\t0001\t0\t0\t100\t000000FF\t0\t0\t0\n"
                /* hostile or impossible names */
                "../../x\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                "abcdefghijklmnopqrstuvwxyz\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                "..\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                "enp2s0:1\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                "*\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0\n"
                "%s\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                /* malformed */
                "enp2s0\t0000000\t0102A8C0\t0003\t0\t0\t100\t00000000\n"
                "enp2s0\t00000000\n"
                "\n",
                huge);
        write_proc(f, "route", route);
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:02.0", "default route via enp0s2",
                NULL });
        host_usage_done(&u);

        /* IPv6 only; lo (unreachable default) has no device */
        remove_proc(f, "route");
        write_proc(f, "ipv6_route",
                   "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   enp0s2\n"
                   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003   enp2s0\n"
                   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
                   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200  ../../x\n"
                   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200\n"
                   "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 enp0s2 extra\n"
                   "0000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200  enp0s2\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:07.0", "IPv6 default route via enp2s0",
                "0000:02:00.0", "IPv6 default route via enp2s0",
                NULL });
        host_usage_done(&u);

        /* a bridge: the port under it is what the host depends on */
        remove_proc(f, "ipv6_route");
        write_proc(f, "route",
                   "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                   "br0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                   "lo\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                   "nosuchif\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:03.0", "default route via br0",
                NULL });
}

static void test_malformed(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *longpoint = g_strnfill(300000, 'm');
        g_autofree char *mountinfo = NULL;
        const char *reason;

        mountinfo = g_strdup_printf(
                "\n"
                "garbage\n"
                "26 1 259:2 / / rw,relatime shared:1 ext4 /dev/nvme0n1p2 rw\n"     /* no separator */
                "26 1 259:2 / / rw,relatime shared:1 -\n"                           /* nothing after it */
                "26 1 259:2 / / rw,relatime shared:1 - ext4\n"
                "26 1 259:x / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 -259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 +259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259:2junk / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 99999:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259:99999999 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259:99999999999999999999 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259:2 / /nul\\000byte rw - ext4 /dev/nvme0n1p2 rw\n"
                "26 1 259:2\n"
                /* a mount point far longer than any reason may get */
                "27 1 8:1 / /%s rw - ext4 /dev/sda1 rw\n",
                longpoint);
        write_proc(f, "mountinfo", mountinfo);
        write_proc(f, "swaps", "\n\n\n");
        write_proc(f, "route", "");
        write_proc(f, "ipv6_route", "\n \n\t\n");
        compute(&u);
        assert_usage(&u, (const char *[]) { "0000:00:1f.2", NULL, NULL });
        reason = u.entries[0].reason;
        g_assert_true(g_str_has_prefix(reason, "mounted filesystem /mmmmmmmm"));
        g_assert_true(g_str_has_suffix(reason, "... from /dev/sda1 (8:1)"));
        g_assert_cmpuint(strlen(reason), <, 300);
        g_assert_cmpuint(u.unreadable, ==, 0);
}

static void test_reason_text(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};

        write_proc(f, "mountinfo",
                   /* octal escapes, a backslash, valid UTF-8, invalid bytes */
                   "40 26 8:1 / /mnt/my\\040data\\011tab rw - ext4 /dev/sda1 rw\n"
                   "41 26 8:1 / /mnt/back\\134slash rw - ext4 /dev/sda1 rw\n"
                   "42 26 8:1 / /mnt/donn\xc3\xa9\x65s rw - ext4 /dev/sda1 rw\n"
                   "43 26 8:1 / /mnt/bad\xff\xc3(\xed\xa0\x80 rw - ext4 /dev/sda1 rw\n"
                   /* the same cause twice counts once */
                   "44 26 8:1 / /mnt/bad\xff\xc3(\xed\xa0\x80 rw - ext4 /dev/sda1 rw\n"
                   "45 26 8:1 / /mnt/e rw - ext4 /dev/sda1 rw\n");
        write_proc(f, "swaps", "Filename Type Size Used Priority\n/dev/sda2 partition 1 0 -2\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:1f.2",
                "mounted filesystem /mnt/my data\\x09tab from /dev/sda1 (8:1); "
                "mounted filesystem /mnt/back\\x5cslash from /dev/sda1 (8:1); "
                "mounted filesystem /mnt/donn\xc3\xa9\x65s from /dev/sda1 (8:1); "
                "and 3 more",
                NULL });
        host_usage_done(&u);

        write_proc(f, "mountinfo", "43 26 8:1 / /mnt/bad\xff\xc3(\xed\xa0\x80 rw - ext4 /dev/sda1 rw\n");
        write_proc(f, "swaps", "");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:1f.2", "mounted filesystem /mnt/bad\\xff\\xc3(\\xed\\xa0\\x80 from /dev/sda1 (8:1)",
                NULL });
}

static void test_unreadable(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *dir = g_build_filename(f->proc, "mountinfo", NULL);

        /* a directory opens, but cannot be read: flagged, the rest used */
        g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
        write_proc(f, "route",
                   "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                   "enp0s2\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
        compute(&u);
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_MOUNTINFO);
        assert_usage(&u, (const char *[]) { "0000:00:02.0", "default route via enp0s2", NULL });
        /* the sentence host-usage-unknown and the log carry */
        g_assert_cmpstr(host_usage_unknown(&u), ==,
                        "the mount table (/proc/self/mountinfo) could not be read or followed, "
                        "so what the host depends on is not known");
        host_usage_done(&u);

        /* a btrfs nobody can follow, on top: both named */
        write_proc(f, "swaps", "");
        {
                g_autofree char *m = g_build_filename(f->proc, "mountinfo", NULL);

                g_assert_cmpint(g_rmdir(m), ==, 0);
        }
        write_proc(f, "mountinfo", "46 26 0:44 / /c rw - btrfs /dev/nonexistent rw\n");
        {
                g_autofree char *sw = g_build_filename(f->proc, "swaps", NULL);

                g_assert_cmpint(g_chmod(sw, 0), ==, 0);
        }
        compute(&u);
        if (geteuid() != 0) {
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_SWAPS | HOST_USAGE_SOURCE_STACK);
                g_assert_cmpstr(host_usage_unknown(&u), ==,
                                "the swap table (/proc/swaps) and a storage stack that could not be followed "
                                "to its devices could not be read or followed, so what the host depends on is "
                                "not known");
        } else
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);

        /* everything read: nothing unknown */
        host_usage_done(&u);
        write_proc(f, "mountinfo", "");
        compute(&u);
        g_assert_cmpuint(u.unreadable, ==, 0);
        g_assert_null(host_usage_unknown(&u));
        g_assert_null(u.unknown);
}

static void test_realistic(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autofree char *dir = g_build_filename(data_dir(), "host-usage", NULL);
        static const char *const disk =
                "mounted filesystem / from /dev/nvme0n1p2 (259:2); "
                "mounted filesystem /home from /dev/mapper/vg-home (253:1); "
                "mounted filesystem /mnt/my data from /dev/nvme0n1p2 (259:2)";
        static const char *const sata =
                "mounted filesystem /srv from /dev/sda1 (8:1); active swap /dev/sda2 (8:2)";
        /* the testbed's /srv btrfs is a raid1 over sda1 and nvme1n1 */
        static const char *const raid1 = "mounted filesystem /srv: btrfs device 259:10 of /dev/sda1";

        g_setenv("PCI_ASSIGND_PROC_DIR", dir, TRUE);
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:03.0", "default route via br0",
                "0000:00:06.0", disk,
                "0000:00:07.0", "IPv6 default route via enp2s0",
                "0000:00:0b.0", raid1,
                "0000:00:1f.2", sata,
                "0000:01:00.0", disk,
                "0000:02:00.0", "IPv6 default route via enp2s0",
                "0000:0a:00.0", raid1,
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        g_assert_null(host_usage_lookup(&u, &(PciAddress) { .device = 2 }));
}

static void test_equal(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) a = {}, b = {}, empty = {};
        PciAddress x = addr("0000:00:06.0");

        write_proc(f, "mountinfo", "26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n");
        compute(&a);
        compute(&b);
        g_assert_true(host_usage_equal(&a, &b));
        g_assert_false(host_usage_equal(&a, &empty));
        g_assert_true(host_usage_equal(&empty, &empty));
        g_assert_false(host_usage_equal(&a, NULL));
        g_assert_true(host_usage_equal(NULL, NULL));
        host_usage_done(&b);

        /* same functions, another reason */
        write_proc(f, "mountinfo", "26 1 259:2 / /root rw - ext4 /dev/nvme0n1p2 rw\n");
        compute(&b);
        g_assert_cmpuint(a.n_entries, ==, b.n_entries);
        g_assert_false(host_usage_equal(&a, &b));
        host_usage_done(&b);

        /* one more function */
        write_proc(f, "mountinfo", "26 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw\n"
                   "27 1 8:1 / /srv rw - ext4 /dev/sda1 rw\n");
        compute(&b);
        g_assert_false(host_usage_equal(&a, &b));

        g_assert_nonnull(host_usage_lookup(&a, &x));
        g_assert_null(host_usage_lookup(&empty, &x));
        g_assert_null(host_usage_lookup(NULL, &x));

        /* done on a cleared or empty usage is harmless */
        host_usage_done(&a);
        host_usage_done(&a);
        host_usage_done(NULL);
}

static void test_paths(void) {
        HostUsagePaths p = {}, q = { .swaps = "/my/swaps", .sysfs = "/mysys" };
        HostUsage u = {};

        g_unsetenv("PCI_ASSIGND_PROC_DIR");
        host_usage_paths_default(&p);
        g_assert_cmpstr(p.mountinfo, ==, "/proc/self/mountinfo");
        g_assert_cmpstr(p.swaps, ==, "/proc/swaps");
        g_assert_cmpstr(p.route, ==, "/proc/net/route");
        g_assert_cmpstr(p.ipv6_route, ==, "/proc/net/ipv6_route");
        g_assert_cmpstr(p.sysfs, ==, "/sys");

        g_setenv("PCI_ASSIGND_PROC_DIR", "/some/dir", TRUE);
        host_usage_paths_default(&q);
        g_assert_cmpstr(q.mountinfo, ==, "/some/dir/mountinfo");
        g_assert_cmpstr(q.swaps, ==, "/my/swaps");
        g_assert_cmpstr(q.route, ==, "/some/dir/route");
        g_assert_cmpstr(q.ipv6_route, ==, "/some/dir/ipv6_route");
        g_assert_cmpstr(q.sysfs, ==, "/mysys");
        g_unsetenv("PCI_ASSIGND_PROC_DIR");

        g_assert_cmpint(host_usage_compute(&(HostUsagePaths) { .sysfs = "sys" }, &u), ==, -EINVAL);
        g_assert_cmpint(host_usage_compute(NULL, NULL), ==, -EINVAL);
}

static void test_real_host(void) {
        g_auto(HostUsage) u = {};

        /* this machine's own tables and /sys (read-only), with the testbed
         * out of the way: any result is fine, it must only be computed
         * cleanly */
        g_unsetenv("PCI_ASSIGND_PROC_DIR");
        if (testbed)
                umockdev_testbed_disable(testbed);
        g_assert_cmpint(host_usage_compute(NULL, &u), ==, 0);
        if (testbed)
                umockdev_testbed_enable(testbed);
        for (size_t i = 0; i < u.n_entries; i++) {
                char buf[PCI_ADDRESS_STRLEN];
                g_test_message("%s: %s", pci_address_format(&u.entries[i].address, buf), u.entries[i].reason);
        }
}

/* ---- rtnetlink dumps, built the way the kernel sends them ---- */

typedef struct Nh {
        int ifindex;
} Nh;

static void nl_attr(GByteArray *b, unsigned short type, const void *data, size_t len) {
        struct rtattr a = { .rta_len = (unsigned short) RTA_LENGTH(len), .rta_type = type };
        static const uint8_t pad[4];

        g_byte_array_append(b, (const guint8 *) &a, sizeof a);
        g_byte_array_append(b, data, (guint) len);
        g_byte_array_append(b, pad, (guint) (RTA_ALIGN(len) - len));
}

/* One RTM_NEWROUTE: dst (NULL for a default route), its prefix length,
 * table, type, an RTA_OIF (0: none), multipath nexthops, RTA_NH_ID. */
static void nl_route(GByteArray *out, int family, const char *dst, unsigned char dst_len, unsigned table,
                     unsigned char type, int oif, const Nh *nhs, size_t n_nhs, bool nh_id) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        struct nlmsghdr h = { .nlmsg_type = RTM_NEWROUTE, .nlmsg_flags = NLM_F_MULTI };
        struct rtmsg rtm = {
                .rtm_family = (unsigned char) family, .rtm_dst_len = dst_len,
                .rtm_table = (unsigned char) (table < 256 ? table : RT_TABLE_COMPAT),
                .rtm_type = type, .rtm_protocol = RTPROT_BOOT,
        };
        uint32_t t = table;

        g_byte_array_append(b, (const guint8 *) &rtm, sizeof rtm);
        nl_attr(b, RTA_TABLE, &t, sizeof t);
        if (dst) {
                uint8_t a[16];

                g_assert_cmpint(inet_pton(family, dst, a), ==, 1);
                nl_attr(b, RTA_DST, a, family == AF_INET ? 4 : 16);
        }
        if (oif)
                nl_attr(b, RTA_OIF, &oif, sizeof oif);
        if (n_nhs > 0) {
                g_autoptr(GByteArray) mp = g_byte_array_new();

                for (size_t i = 0; i < n_nhs; i++) {
                        struct rtnexthop nh = { .rtnh_len = sizeof nh, .rtnh_ifindex = nhs[i].ifindex };

                        g_byte_array_append(mp, (const guint8 *) &nh, sizeof nh);
                }
                nl_attr(b, RTA_MULTIPATH, mp->data, mp->len);
        }
        if (nh_id) {
                uint32_t id = 7;

                nl_attr(b, RTA_NH_ID, &id, sizeof id);
        }
        h.nlmsg_len = NLMSG_LENGTH(b->len);
        g_byte_array_append(out, (const guint8 *) &h, sizeof h);
        g_byte_array_append(out, b->data, b->len);
}

static void nl_done(GByteArray *out) {
        struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(sizeof(int)), .nlmsg_type = NLMSG_DONE, .nlmsg_flags = NLM_F_MULTI };
        int zero = 0;

        g_byte_array_append(out, (const guint8 *) &h, sizeof h);
        g_byte_array_append(out, (const guint8 *) &zero, sizeof zero);
}

static void write_proc_bytes(Fixture *f, const char *name, GByteArray *b) {
        g_autoptr(GError) error = NULL;
        g_autofree char *p = g_build_filename(f->proc, name, NULL);

        g_assert_true(g_file_set_contents(p, (const char *) b->data, b->len, &error));
        g_assert_no_error(error);
}

static void test_rtnetlink(Fixture *f, gconstpointer data) {
        g_auto(HostUsage) u = {};
        g_autoptr(GByteArray) b = g_byte_array_new();
        static const Nh v6[] = { { 4 }, { 14 } };

        /* the main table's IPv4 default; table 100 (a policy rule's) over
         * a VLAN on a bond; an IPv6 ECMP default over enp2s0 and a macvlan
         * on it; defaults that reach no NIC; routes that are no defaults */
        nl_route(b, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 2, NULL, 0, false);
        nl_route(b, AF_INET, NULL, 0, 100, RTN_UNICAST, 13, NULL, 0, false);
        nl_route(b, AF_INET6, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 0, v6, G_N_ELEMENTS(v6), false);
        nl_route(b, AF_INET, NULL, 0, 200, RTN_UNREACHABLE, 0, NULL, 0, false);
        nl_route(b, AF_INET6, NULL, 0, 300, RTN_BLACKHOLE, 1, NULL, 0, false);
        nl_route(b, AF_INET, "10.0.0.0", 8, RT_TABLE_MAIN, RTN_UNICAST, 3, NULL, 0, false);
        nl_route(b, AF_INET, "127.0.0.1", 32, RT_TABLE_LOCAL, RTN_LOCAL, 1, NULL, 0, false);
        nl_done(b);
        write_proc_bytes(f, "rtnetlink", b);
        /* the dump wins: the /proc tables are not read */
        write_proc(f, "route",
                   "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                   "br0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:02.0", "default route via enp0s2",
                "0000:00:05.0", "default route (table 100) via bond0.100",
                "0000:00:05.1", "default route (table 100) via bond0.100",
                "0000:00:07.0", "IPv6 default route via enp2s0; IPv6 default route via mv0",
                "0000:02:00.0", "IPv6 default route via enp2s0; IPv6 default route via mv0",
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);

        /* an NFS server in 10/8, a CIFS one on the default route; the
         * longest match of the main table wins over its default */
        write_proc(f, "mountinfo",
                   "70 26 0:50 / /srv/nfs rw - nfs4 fs.example:/export rw,vers=4.2,addr=10.1.2.3,clientaddr=10.1.2.4\n"
                   "71 26 0:51 / /srv/smb rw - cifs //nas/share rw,vers=3.1.1,addr=192.0.2.9\n");
        remove_proc(f, "route");
        {
                g_autoptr(GByteArray) m = g_byte_array_new();

                nl_route(m, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 2, NULL, 0, false);
                nl_route(m, AF_INET, "10.0.0.0", 8, RT_TABLE_MAIN, RTN_UNICAST, 3, NULL, 0, false);
                nl_route(m, AF_INET, "10.0.0.0", 16, RT_TABLE_MAIN, RTN_UNICAST, 4, NULL, 0, false);
                nl_done(m);
                write_proc_bytes(f, "rtnetlink", m);
        }
        compute(&u);
        assert_usage(&u, (const char *[]) {
                "0000:00:02.0", "network filesystem /srv/smb from //nas/share via enp0s2; default route via enp0s2",
                "0000:00:03.0", "network filesystem /srv/nfs from fs.example:/export via enp0s3",
                NULL });
        g_assert_cmpuint(u.unreadable, ==, 0);
        host_usage_done(&u);

        /* what cannot be followed: fail closed */
        write_proc(f, "mountinfo", "72 26 0:52 / /srv/nfs rw - nfs fs:/x rw,vers=3\n");
        compute(&u);
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
        host_usage_done(&u);
        write_proc(f, "mountinfo", "");
        {
                g_autoptr(GByteArray) m = g_byte_array_new();

                /* a nexthop object; an interface sysfs does not know */
                nl_route(m, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 0, NULL, 0, true);
                nl_route(m, AF_INET6, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 99, NULL, 0, false);
                nl_done(m);
                write_proc_bytes(f, "rtnetlink", m);
        }
        compute(&u);
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_RTNETLINK);
        assert_usage(&u, (const char *[]) { NULL });
        host_usage_done(&u);

        /* a dump without its NLMSG_DONE, an empty file, garbage */
        {
                g_autoptr(GByteArray) m = g_byte_array_new();

                nl_route(m, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 2, NULL, 0, false);
                write_proc_bytes(f, "rtnetlink", m);
                compute(&u);
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_RTNETLINK);
                host_usage_done(&u);
                g_byte_array_set_size(m, 0);
                write_proc_bytes(f, "rtnetlink", m);
                compute(&u);
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_RTNETLINK);
                host_usage_done(&u);
                write_proc(f, "rtnetlink", "not netlink at all, just text of some length\n");
                compute(&u);
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_RTNETLINK);
        }
        remove_proc(f, "rtnetlink");
}

/* A default route through a tunnel whose packets the routing table sends
 * on (WireGuard, a VXLAN without a device, a VPN's tap): every interface a
 * route goes out of may carry them, so each counts (the tunnel itself
 * does not); a dummy holds nothing; a device of unknown type, and a
 * tunnel without the route tables, are not known: fail closed. */
static void test_tunnels(Fixture *f, gconstpointer data) {
        static const char *const tunnels[] = { "wg0", "vx0", "tap0" };
        static const int ifindex[] = { 20, 21, 22 };

        for (size_t i = 0; i < G_N_ELEMENTS(tunnels); i++) {
                g_auto(HostUsage) u = {};
                g_autoptr(GByteArray) b = g_byte_array_new();
                g_autofree gchar *w2 = g_strdup_printf("default route via %s, a tunnel that may be routed over enp0s2",
                                                       tunnels[i]);
                g_autofree gchar *w3 = g_strdup_printf("default route via %s, a tunnel that may be routed over br0",
                                                       tunnels[i]);

                nl_route(b, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, ifindex[i], NULL, 0, false);
                nl_route(b, AF_INET, "192.0.2.0", 24, RT_TABLE_MAIN, RTN_UNICAST, 2, NULL, 0, false);
                nl_route(b, AF_INET6, "2001:db8::", 32, 100, RTN_UNICAST, 5, NULL, 0, false);
                nl_route(b, AF_INET, "10.0.0.0", 8, RT_TABLE_MAIN, RTN_UNICAST, ifindex[i], NULL, 0, false);
                /* no NIC: not counted */
                nl_route(b, AF_INET, "127.0.0.1", 32, RT_TABLE_LOCAL, RTN_LOCAL, 1, NULL, 0, false);
                nl_route(b, AF_INET, "198.51.100.0", 24, RT_TABLE_MAIN, RTN_BLACKHOLE, 4, NULL, 0, false);
                nl_done(b);
                write_proc_bytes(f, "rtnetlink", b);
                compute(&u);
                assert_usage(&u, (const char *[]) { "0000:00:02.0", w2, "0000:00:03.0", w3, NULL });
                g_assert_cmpuint(u.unreadable, ==, 0);
        }
        {
                g_auto(HostUsage) u = {};
                g_autoptr(GByteArray) b = g_byte_array_new();

                nl_route(b, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 23, NULL, 0, false);
                nl_route(b, AF_INET, "192.0.2.0", 24, RT_TABLE_MAIN, RTN_UNICAST, 2, NULL, 0, false);
                nl_done(b);
                write_proc_bytes(f, "rtnetlink", b);
                compute(&u);
                assert_usage(&u, (const char *[]) { NULL });
                g_assert_cmpuint(u.unreadable, ==, 0);
        }
        {
                g_auto(HostUsage) u = {};
                g_autoptr(GByteArray) b = g_byte_array_new();

                nl_route(b, AF_INET, NULL, 0, RT_TABLE_MAIN, RTN_UNICAST, 24, NULL, 0, false);
                nl_done(b);
                write_proc_bytes(f, "rtnetlink", b);
                compute(&u);
                g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
        }
        {
                /* /proc/net/route only (no dump): routes of the main table
                 * alone, so a tunnel's underlay is not known */
                g_auto(HostUsage) u = {};

                remove_proc(f, "rtnetlink");
                write_proc(f, "route",
                           "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                           "wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n");
                compute(&u);
                g_assert_cmpuint(u.unreadable & HOST_USAGE_SOURCE_RTNETLINK, !=, 0);
                remove_proc(f, "route");
        }
}

/* Recorded in the VM by scenario hoststacks (tests/vm/guest/
 * record_hoststacks.py): the sysfs subset, /proc tables and rtnetlink dump
 * of a real kernel running btrfs raid1, swap, ext4 on dm-crypt on dm linear,
 * a loop device on that, ext4 on an NVMe native-multipath head, a bond
 * carrying the main default routes, and a VLAN on a bridge, a macvlan, a
 * VXLAN and a team (the last two over the NICs behind a PCIe switch)
 * carrying those of policy tables 100, 200, 300 and 400.  Read with no /dev
 * (the names are found in the recorded sysfs), no udev, no ZFS.  Device
 * numbers are those of that boot. */
static void test_recorded_vm(void) {
        g_auto(HostUsage) u = {};
        g_autofree char *dir = g_build_filename(data_dir(), "host-usage", "vm-hoststacks", NULL);
        g_autofree char *mountinfo = g_build_filename(dir, "mountinfo", NULL);
        g_autofree char *swaps = g_build_filename(dir, "swaps", NULL);
        g_autofree char *route = g_build_filename(dir, "route", NULL);
        g_autofree char *ipv6_route = g_build_filename(dir, "ipv6_route", NULL);
        g_autofree char *rtnetlink = g_build_filename(dir, "rtnetlink", NULL);
        g_autofree char *sys = g_build_filename(dir, "sys", NULL);
        g_autofree char *none = g_build_filename(dir, "nonexistent", NULL);
        HostUsagePaths p = {
                .mountinfo = mountinfo, .swaps = swaps, .route = route, .ipv6_route = ipv6_route,
                .rtnetlink = rtnetlink, .sysfs = sys, .dev = none, .zfs_kstat = none, .udev_data = none,
        };
        static const char *const btrfs1 = "mounted filesystem /mnt/hsb from /dev/nvme1n1 (259:2)";
        static const char *const btrfs2 = "mounted filesystem /mnt/hsb: btrfs device 259:1 of /dev/nvme1n1";
        static const char *const swap = "active swap /dev/nvme3n1 (259:0)";
        static const char *const dm = "mounted filesystem /mnt/hse from /dev/mapper/hscrypt (254:1)";
        static const char *const mp = "mounted filesystem /mnt/hsm from /dev/nvme7n1 (259:4)";
        static const char *const bond = "default route via bond0; IPv6 default route via bond0";
        static const char *const vlan = "default route (table 100) via hsbr0.10";
        static const char *const macvlan = "IPv6 default route (table 200) via hsmv0";
        static const char *const vxlan = "default route (table 300) via hsvx0";
        static const char *const team = "default route (table 400) via hstm0";
        static const char *const both = "default route (table 300) via hsvx0; default route (table 400) via hstm0";

        g_assert_cmpint(host_usage_compute(&p, &u), ==, 0);
        for (size_t i = 0; i < u.n_entries; i++) {
                char buf[PCI_ADDRESS_STRLEN];

                g_test_message("%s: %s", pci_address_format(&u.entries[i].address, buf), u.entries[i].reason);
        }
        /* /mnt/hsl is on loop0, backed by /mnt/hse/loop.img: a file of the
         * recorded machine, not of this one, so not known here (fail
         * closed); the VM scenario follows it on the real kernel */
        g_assert_cmpuint(u.unreadable, ==, HOST_USAGE_SOURCE_STACK);
        assert_usage(&u, (const char *[]) {
                "0000:00:02.0", bond,
                "0000:00:05.0", vlan,
                "0000:00:07.0", macvlan,
                "0000:00:0a.0", both,     /* root port above the switch */
                "0000:00:0c.0", bond,
                "0000:00:0d.0", btrfs1,
                "0000:00:0e.0", btrfs2,
                "0000:00:0f.0", swap,
                "0000:00:10.0", dm,
                "0000:00:12.0", mp,
                "0000:00:13.0", mp,
                "0000:02:00.0", macvlan,
                "0000:06:00.0", both,     /* switch upstream port */
                "0000:07:00.0", vxlan,    /* its downstream ports */
                "0000:07:01.0", team,
                "0000:08:00.0", vxlan,
                "0000:09:00.0", team,
                "0000:0b:00.0", bond,
                "0000:0c:00.0", btrfs1,
                "0000:0d:00.0", btrfs2,
                "0000:0e:00.0", swap,
                "0000:0f:00.0", dm,
                "0000:11:00.0", mp,
                "0000:12:00.0", mp,
                NULL });
}

#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv) {
        int r;

        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/host-usage/paths", test_paths);
        g_test_add_func("/host-usage/real-host", test_real_host);
        g_test_add_func("/host-usage/recorded-vm", test_recorded_vm);
        ADD("/host-usage/root-partition", test_root_partition);
        ADD("/host-usage/virtual", test_virtual);
        ADD("/host-usage/btrfs", test_btrfs);
        ADD("/host-usage/nvme-multipath", test_nvme_multipath);
        ADD("/host-usage/loop", test_loop);
        ADD("/host-usage/bcache", test_bcache);
        ADD("/host-usage/nbd", test_nbd);
        ADD("/host-usage/zfs", test_zfs);
        ADD("/host-usage/stacked", test_stacked);
        ADD("/host-usage/swap", test_swap);
        ADD("/host-usage/swap-file", test_swap_file);
        ADD("/host-usage/routes", test_routes);
        ADD("/host-usage/rtnetlink", test_rtnetlink);
        ADD("/host-usage/tunnels", test_tunnels);
        ADD("/host-usage/malformed", test_malformed);
        ADD("/host-usage/reason-text", test_reason_text);
        ADD("/host-usage/unreadable", test_unreadable);
        ADD("/host-usage/realistic", test_realistic);
        ADD("/host-usage/equal", test_equal);

        r = g_test_run();
        g_clear_object(&testbed);
        g_free(testbed_root);
        return r;
}
