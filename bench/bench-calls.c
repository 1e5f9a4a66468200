/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Round trips of pci-assignd's methods against the same run's
 * org.freedesktop.DBus.Peer.Ping to the daemon (the floor: one bus round
 * trip with no work).  Connects to $DBUS_SYSTEM_BUS_ADDRESS.
 *   bench-calls [ROUNDS]
 * Calls: Peer.Ping, Properties.Get of the Manager's Version and of one
 * device's Verdict, GetDevice, CheckAssignable over every function, and
 * Reserve (+ Release, not timed).
 * Prints one line per call: median and p99 in microseconds and the ratio of
 * the median to Ping's, and a JSON object on the last line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#define DEST "org.pciassign1"
#define PATH "/org/pciassign1"
#define MGR "org.pciassign1.Manager"

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

typedef struct {
        const char *name;
        uint64_t median, p99;
} Result;

static void summarize(uint64_t *v, int n, Result *r) {
        qsort(v, (size_t) n, sizeof *v, cmp_u64);
        r->median = v[n / 2];
        r->p99 = v[(n * 99) / 100 >= n ? n - 1 : (n * 99) / 100];
}

static void die(const char *what, int r, const sd_bus_error *e) {
        fprintf(stderr, "bench-calls: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        exit(1);
}

static char **addresses, **paths;
static size_t n_addresses;

static void load_addresses(sd_bus *bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *addr, *drv, *verdict, *res, *path;
        int32_t group;
        size_t alloc = 0;
        int r;

        r = sd_bus_call_method(bus, DEST, PATH, MGR, "ListDevices", &e, &reply, NULL);
        if (r < 0)
                die("ListDevices", r, &e);
        r = sd_bus_message_enter_container(reply, 'a', "(ssisso)");
        if (r < 0)
                die("ListDevices reply", r, NULL);
        while ((r = sd_bus_message_read(reply, "(ssisso)", &addr, &drv, &group, &verdict, &res, &path)) > 0) {
                if (n_addresses + 1 >= alloc) {
                        alloc = alloc ? alloc * 2 : 256;
                        addresses = realloc(addresses, alloc * sizeof(char *));
                        paths = realloc(paths, alloc * sizeof(char *));
                        if (!addresses || !paths)
                                die("realloc", -ENOMEM, NULL);
                }
                paths[n_addresses] = strdup(path);
                addresses[n_addresses++] = strdup(addr);
                addresses[n_addresses] = NULL;
        }
        sd_bus_message_unref(reply);
}

/* one candidate for Reserve: an assignable function alone in its group */
static const char *pick_reservable(sd_bus *bus) {
        for (size_t i = 0; i < n_addresses; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r = sd_bus_call_method(bus, DEST, PATH, MGR, "Reserve", &e, &reply, "sa(sb)a{sv}",
                                           "bench-probe", 1, addresses[i], 1, 0);
                if (r >= 0) {
                        const char *p;
                        sd_bus_message_read(reply, "o", &p);
                        sd_bus_call_method(bus, DEST, p, "org.pciassign1.Reservation", "Release", NULL, NULL, NULL);
                        sd_bus_message_unref(reply);
                        return addresses[i];
                }
                sd_bus_error_free(&e);
        }
        return NULL;
}

int main(int argc, char *argv[]) {
        int rounds = argc > 1 ? atoi(argv[1]) : 200;
        sd_bus *bus = NULL;
        uint64_t *t;
        Result res[8];
        int n_res = 0, r;
        const char *reservable;

        if (rounds < 10)
                rounds = 10;
        t = calloc((size_t) rounds, sizeof(uint64_t));
        r = sd_bus_open_system(&bus);
        if (r < 0)
                die("connect", r, NULL);
        load_addresses(bus);
        if (n_addresses == 0)
                die("ListDevices", -ENODEV, NULL);
        reservable = pick_reservable(bus);

#define MEASURE(label, call)                                                           \
        do {                                                                           \
                for (int i = 0; i < rounds; i++) {                                     \
                        sd_bus_error e = SD_BUS_ERROR_NULL;                            \
                        sd_bus_message *reply = NULL;                                  \
                        uint64_t t0 = now_us();                                        \
                        r = (call);                                                    \
                        t[i] = now_us() - t0;                                          \
                        if (r < 0)                                                     \
                                die(label, r, &e);                                     \
                        sd_bus_message_unref(reply);                                   \
                }                                                                      \
                res[n_res].name = label;                                               \
                summarize(t, rounds, &res[n_res++]);                                   \
        } while (0)

        MEASURE("Peer.Ping", sd_bus_call_method(bus, DEST, PATH, "org.freedesktop.DBus.Peer", "Ping", &e, &reply, NULL));
        MEASURE("Get(Version)", sd_bus_call_method(bus, DEST, PATH, "org.freedesktop.DBus.Properties", "Get", &e,
                                                   &reply, "ss", MGR, "Version"));
        /* one property of one device: the Device object's own Get, the
         * same function as GetDevice's */
        MEASURE("Get(Device.Verdict)", sd_bus_call_method(bus, DEST, paths[n_addresses / 2],
                                                          "org.freedesktop.DBus.Properties", "Get", &e, &reply, "ss",
                                                          "org.pciassign1.Device", "Verdict"));
        MEASURE("GetDevice", sd_bus_call_method(bus, DEST, PATH, MGR, "GetDevice", &e, &reply, "s",
                                                addresses[n_addresses / 2]));
        {
                /* CheckAssignable over every function of the host */
                for (int i = 0; i < rounds / 10; i++) {
                        sd_bus_error e = SD_BUS_ERROR_NULL;
                        sd_bus_message *m = NULL, *reply = NULL;
                        uint64_t t0;

                        sd_bus_message_new_method_call(bus, &m, DEST, PATH, MGR, "CheckAssignable");
                        sd_bus_message_append_strv(m, addresses);
                        sd_bus_message_append(m, "s", "");
                        t0 = now_us();
                        r = sd_bus_call(bus, m, 0, &e, &reply);
                        t[i] = now_us() - t0;
                        if (r < 0)
                                die("CheckAssignable", r, &e);
                        sd_bus_message_unref(m);
                        sd_bus_message_unref(reply);
                }
                res[n_res].name = "CheckAssignable(all)";
                summarize(t, rounds / 10, &res[n_res++]);
        }
        if (reservable) {
                /* Reserve + Release: two store writes (fsync'd, renamed) */
                for (int i = 0; i < rounds / 10; i++) {
                        sd_bus_error e = SD_BUS_ERROR_NULL;
                        sd_bus_message *reply = NULL;
                        const char *p;
                        uint64_t t0 = now_us();

                        r = sd_bus_call_method(bus, DEST, PATH, MGR, "Reserve", &e, &reply, "sa(sb)a{sv}",
                                               "bench", 1, reservable, 1, 0);
                        t[i] = now_us() - t0;
                        if (r < 0)
                                die("Reserve", r, &e);
                        sd_bus_message_read(reply, "o", &p);
                        r = sd_bus_call_method(bus, DEST, p, "org.pciassign1.Reservation", "Release", &e, NULL, NULL);
                        if (r < 0)
                                die("Release", r, &e);
                        sd_bus_message_unref(reply);
                }
                res[n_res].name = "Reserve(+store write)";
                summarize(t, rounds / 10, &res[n_res++]);
        }

        printf("%zu functions; %d rounds (CheckAssignable and Reserve: %d)\n", n_addresses, rounds, rounds / 10);
        for (int i = 0; i < n_res; i++)
                printf("  %-24s median %8llu us  p99 %8llu us  %7.1fx Ping\n", res[i].name,
                       (unsigned long long) res[i].median, (unsigned long long) res[i].p99,
                       (double) res[i].median / (double) (res[0].median ?: 1));
        printf("{\"functions\": %zu", n_addresses);
        for (int i = 0; i < n_res; i++)
                printf(", \"%s\": {\"median_us\": %llu, \"p99_us\": %llu, \"ratio_to_ping\": %.2f}", res[i].name,
                       (unsigned long long) res[i].median, (unsigned long long) res[i].p99,
                       (double) res[i].median / (double) (res[0].median ?: 1));
        printf("}\n");
        if (!reservable)
                fprintf(stderr, "bench-calls: no reservable function on this testbed: Reserve not measured\n");
        sd_bus_flush_close_unref(bus);
        return 0;
}
