/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starts a daemon once and measures it:
 *   - start -> READY=1 on its NOTIFY_SOCKET (a datagram socket we own),
 *   - start -> its well-known name appearing on the bus (NameOwnerChanged),
 *   - CPU time it used until then (all threads), VmRSS/VmHWM,
 *   - round trips of ObjectManager.GetManagedObjects, the daemon's CPU time
 *     spent on them, and VmRSS/VmHWM after,
 * then stops it with SIGTERM.  Prints one JSON object on stdout.
 *
 *   daemon-ready --address BUS [--name NAME] [--path PATH] [--calls N]
 *                [--timeout SEC] [--env K=V]... -- COMMAND [ARG]...
 *   daemon-ready --run [--env K=V]... -- COMMAND [ARG]...
 *
 * --run times a command that exits by itself (the baselines) the same way:
 * wall clock from fork to exit, and its CPU time; its output is discarded.
 *
 * --env settings apply to the command only, so this process is never under
 * the umockdev preload. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static double t_start, t_ready = -1, t_name = -1;
static const char *arg_name = "org.pciassign1";

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (strcmp(name, arg_name) == 0 && new_owner[0] && t_name < 0)
                t_name = now_ms() - t_start;
        return 0;
}

static void read_notify(int fd) {
        char buf[4096];
        ssize_t n;

        while ((n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
                buf[n] = 0;
                for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
                        if (strcmp(l, "READY=1") == 0 && t_ready < 0)
                                t_ready = now_ms() - t_start;
        }
}

/* utime + stime in clock ticks from a /proc stat file, 0 if unknown */
static unsigned long long read_stat_ticks(const char *path) {
        unsigned long long ut, st;
        char buf[1024], *p;
        size_t n;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        /* the command name may hold anything: count fields after its ')' */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return 0;
        return ut + st;
}

/* CPU time of all threads so far, in ms, -1 if unknown: schedstat (ns on
 * the CPU) of the threads alive now, plus what threads that already
 * exited used (the process's utime + stime keep it; clock ticks). */
static double read_cpu_ms(pid_t pid) {
        char path[64];
        unsigned long long sum = 0, ticks_all, ticks_live = 0;
        DIR *d;
        struct dirent *de;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char p[400];
                unsigned long long ns;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(p, sizeof p, "%s/%s/schedstat", path, de->d_name);
                f = fopen(p, "re");
                if (!f)
                        continue;
                if (fscanf(f, "%llu", &ns) == 1)
                        sum += ns;
                fclose(f);
                snprintf(p, sizeof p, "%s/%s/stat", path, de->d_name);
                ticks_live += read_stat_ticks(p);
        }
        closedir(d);
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        ticks_all = read_stat_ticks(path);
        if (ticks_all > ticks_live)
                sum += (ticks_all - ticks_live) * 1000000000ULL / (unsigned long long) sysconf(_SC_CLK_TCK);
        return sum > 0 ? (double) sum / 1e6 : -1;
}

/* VmRSS and VmHWM in KiB, -1 if unknown */
static void read_rss(pid_t pid, long *rss, long *hwm) {
        char path[64], line[256];
        FILE *f;

        *rss = *hwm = -1;
        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, "VmRSS:", 6) == 0)
                        *rss = strtol(line + 6, NULL, 10);
                else if (strncmp(line, "VmHWM:", 6) == 0)
                        *hwm = strtol(line + 6, NULL, 10);
        }
        fclose(f);
}

/* Walks a GetManagedObjects reply: objects, and those under .../device/ */
static int count_objects(sd_bus_message *m, const char *path, unsigned *ret_objects, unsigned *ret_devices) {
        char prefix[256];
        unsigned objects = 0, devices = 0;
        int r;

        snprintf(prefix, sizeof prefix, "%s/device/", path);
        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                const char *o;

                r = sd_bus_message_read(m, "o", &o);
                if (r < 0)
                        return r;
                objects++;
                if (strncmp(o, prefix, strlen(prefix)) == 0)
                        devices++;
                r = sd_bus_message_skip(m, "a{sa{sv}}");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        *ret_objects = objects;
        *ret_devices = devices;
        return sd_bus_message_exit_container(m);
}

static void usage(const char *p) {
        fprintf(stderr, "usage: %s --address BUS [--name NAME] [--path PATH] [--calls N] "
                "[--timeout SEC] [--env K=V]... -- COMMAND [ARG]...\n"
                "       %s --run [--env K=V]... -- COMMAND [ARG]...\n", p, p);
}

static pid_t spawn(char **argv, char **envs, size_t n_envs, const char *notify, bool quiet) {
        pid_t pid = fork();

        if (pid != 0)
                return pid;
        if (notify)
                setenv("NOTIFY_SOCKET", notify, 1);
        for (size_t i = 0; i < n_envs; i++)
                putenv(envs[i]);
        if (quiet) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        dup2(fd, STDOUT_FILENO);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

/* --run: wall clock and CPU time of one command */
static int run_once(char **argv, char **envs, size_t n_envs) {
        struct rusage ru;
        double t0, wall;
        int status;
        pid_t pid;

        t0 = now_ms();
        pid = spawn(argv, envs, n_envs, NULL, true);
        if (pid < 0) {
                perror("fork");
                return 1;
        }
        if (wait4(pid, &status, 0, &ru) < 0) {
                perror("wait4");
                return 1;
        }
        wall = now_ms() - t0;
        printf("{\"wall_ms\": %.3f, \"cpu_ms\": %.3f, \"exit_status\": %d}\n", wall,
               (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3,
               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "address", required_argument, NULL, 'a' },
                { "name",    required_argument, NULL, 'n' },
                { "path",    required_argument, NULL, 'p' },
                { "calls",   required_argument, NULL, 'c' },
                { "timeout", required_argument, NULL, 't' },
                { "env",     required_argument, NULL, 'e' },
                { "run",     no_argument,       NULL, 'r' },
                {}
        };
        const char *address = NULL, *path = "/org/pciassign1";
        char *envs[64];
        size_t n_envs = 0;
        int calls = 20, c, r, nfd = -1, status = 0;
        double timeout_ms = 120e3;
        char tmpdir[] = "/tmp/daemon-ready.XXXXXX", sock[sizeof tmpdir + 16];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sd_bus *bus = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        long rss_ready = -1, hwm_ready = -1, rss_after = -1, hwm_after = -1;
        unsigned objects = 0, devices = 0;
        double *gmo = NULL;
        bool exited = false, run = false;
        double cpu_ready = -1, cpu_calls = -1;
        const char *fail = NULL;
        pid_t pid;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': address = optarg; break;
                case 'n': arg_name = optarg; break;
                case 'p': path = optarg; break;
                case 'c': calls = atoi(optarg); break;
                case 't': timeout_ms = atof(optarg) * 1e3; break;
                case 'r': run = true; break;
                case 'e':
                        if (n_envs >= sizeof envs / sizeof envs[0] || !strchr(optarg, '=')) {
                                usage(argv[0]);
                                return 2;
                        }
                        envs[n_envs++] = optarg;
                        break;
                default:
                        usage(argv[0]);
                        return 2;
                }
        }
        if (run && optind < argc)
                return run_once(argv + optind, envs, n_envs);
        if (!address || optind >= argc || calls < 0) {
                usage(argv[0]);
                return 2;
        }
        gmo = calloc((size_t) calls + 1, sizeof(double));
        if (!gmo)
                return 1;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "cannot connect to %s: %s\n", address, strerror(-r));
                return 1;
        }
        r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "NameOwnerChanged",
                                on_name_owner_changed, NULL);
        if (r < 0) {
                fprintf(stderr, "cannot add match: %s\n", strerror(-r));
                return 1;
        }
        {
                sd_bus_message *reply = NULL;
                int owned = 0;

                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", &error, &reply,
                                       "s", arg_name);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "b", &owned);
                sd_bus_message_unref(reply);
                if (r < 0 || owned) {
                        fprintf(stderr, "%s is %s on %s\n", arg_name,
                                r < 0 ? "not checkable" : "already owned", address);
                        return 1;
                }
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        snprintf(sock, sizeof sock, "%s/notify", tmpdir);
        strncpy(sa.sun_path, sock, sizeof sa.sun_path - 1);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (nfd < 0 || bind(nfd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                perror("notify socket");
                return 1;
        }

        t_start = now_ms();
        pid = spawn(argv + optind, envs, n_envs, sock, false);
        if (pid < 0) {
                perror("fork");
                return 1;
        }

        /* wait for READY=1 and the bus name, whichever order they come in */
        while (t_ready < 0 || t_name < 0) {
                struct pollfd p[2] = {
                        { .fd = nfd, .events = POLLIN },
                        { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) },
                };
                double left = timeout_ms - (now_ms() - t_start);

                while ((r = sd_bus_process(bus, NULL)) > 0)
                        ;
                if (r < 0) {
                        fail = "bus connection failed";
                        break;
                }
                if (t_ready >= 0 && t_name >= 0)
                        break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        exited = true;
                        fail = "daemon exited before it was ready";
                        break;
                }
                if (left <= 0) {
                        fail = t_name >= 0 ? "timeout waiting for READY=1" :
                               t_ready >= 0 ? "timeout waiting for the bus name" :
                               "timeout waiting for READY=1 and the bus name";
                        break;
                }
                /* wake up now and then to notice the daemon exiting */
                r = poll(p, 2, left < 100 ? (int) left + 1 : 100);
                if (r < 0 && errno != EINTR) {
                        fail = "poll failed";
                        break;
                }
                if (p[0].revents & POLLIN)
                        read_notify(nfd);
        }
        read_notify(nfd);

        if (!exited) {
                cpu_ready = read_cpu_ms(pid);
                read_rss(pid, &rss_ready, &hwm_ready);
                for (int i = 0; i < calls && t_name >= 0; i++) {
                        sd_bus_message *reply = NULL;
                        double t0 = now_ms();

                        r = sd_bus_call_method(bus, arg_name, path, "org.freedesktop.DBus.ObjectManager",
                                               "GetManagedObjects", &error, &reply, "");
                        gmo[i] = now_ms() - t0;
                        if (r < 0) {
                                fprintf(stderr, "GetManagedObjects: %s\n", error.message ?: strerror(-r));
                                sd_bus_error_free(&error);
                                fail = fail ?: "GetManagedObjects failed";
                                calls = i;
                                break;
                        }
                        if (i == 0 && count_objects(reply, path, &objects, &devices) < 0)
                                fprintf(stderr, "cannot parse the GetManagedObjects reply\n");
                        sd_bus_message_unref(reply);
                }
                read_rss(pid, &rss_after, &hwm_after);
                if (cpu_ready >= 0 && calls > 0) {
                        double c1 = read_cpu_ms(pid);
                        cpu_calls = c1 >= 0 ? c1 - cpu_ready : -1;
                }

                kill(pid, SIGTERM);
                for (int i = 0; i < 500 && !exited; i++) {
                        if (waitpid(pid, &status, WNOHANG) == pid)
                                exited = true;
                        else
                                usleep(10000);
                }
                if (!exited) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        fail = fail ?: "daemon did not exit on SIGTERM within 5 s";
                }
        }
        unlink(sock);
        rmdir(tmpdir);

        printf("{\"ready_ms\": ");
        if (t_ready >= 0) printf("%.3f", t_ready); else printf("null");
        printf(", \"name_ms\": ");
        if (t_name >= 0) printf("%.3f", t_name); else printf("null");
        printf(", \"cpu_ms_ready\": ");
        if (cpu_ready >= 0) printf("%.3f", cpu_ready); else printf("null");
        printf(", \"cpu_ms_calls\": ");
        if (cpu_calls >= 0) printf("%.3f", cpu_calls); else printf("null");
        printf(", \"rss_kib_ready\": %ld, \"hwm_kib_ready\": %ld, \"rss_kib_after_calls\": %ld, "
               "\"hwm_kib_after_calls\": %ld, \"objects\": %u, \"devices\": %u, \"gmo_ms\": [",
               rss_ready, hwm_ready, rss_after, hwm_after, objects, devices);
        for (int i = 0; i < calls && t_name >= 0; i++)
                printf("%s%.3f", i ? ", " : "", gmo[i]);
        printf("], \"exit_status\": %d, \"error\": ", WIFEXITED(status) ? WEXITSTATUS(status) :
               WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1);
        if (fail) printf("\"%s\"}\n", fail); else printf("null}\n");

        free(gmo);
        sd_bus_flush_close_unref(bus);
        return fail ? 1 : 0;
}
