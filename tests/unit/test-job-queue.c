/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job queue serializes: one job at a time, in order, with `done` on
 * the main loop, and the main loop stays responsive while a job runs. */
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "job-queue.h"

typedef struct {
        Job job;
        int index;
        unsigned sleep_ms;
        int result;
        struct Ctx *ctx;
} TestJob;

typedef struct Ctx {
        atomic_int running, max_running;
        GArray *order_work, *order_done;
        pthread_mutex_t lock;
        pthread_t main_thread;
        int done_count, cancelled;
        int timer_ticks_during_job;
        atomic_int in_slow_job;
        sd_event *event;
} Ctx;

static int work(Job *j) {
        TestJob *t = (TestJob *) j;
        int now = atomic_fetch_add(&t->ctx->running, 1) + 1;
        int max = atomic_load(&t->ctx->max_running);

        while (now > max && !atomic_compare_exchange_weak(&t->ctx->max_running, &max, now))
                ;
        g_assert_false(pthread_equal(pthread_self(), t->ctx->main_thread));
        pthread_mutex_lock(&t->ctx->lock);
        g_array_append_val(t->ctx->order_work, t->index);
        pthread_mutex_unlock(&t->ctx->lock);
        if (t->sleep_ms >= 200)
                atomic_store(&t->ctx->in_slow_job, 1);
        g_usleep(t->sleep_ms * 1000);
        atomic_store(&t->ctx->in_slow_job, 0);
        atomic_fetch_sub(&t->ctx->running, 1);
        return t->result;
}

static void done(Job *j, int result) {
        TestJob *t = (TestJob *) j;
        Ctx *c = t->ctx;

        g_assert_true(pthread_equal(pthread_self(), c->main_thread));
        if (result == -ECANCELED)
                c->cancelled++;
        else {
                g_assert_cmpint(result, ==, t->result);
                g_array_append_val(c->order_done, t->index);
        }
        c->done_count++;
        g_free(t);
}

static TestJob *new_job(Ctx *c, int index, unsigned sleep_ms, int result) {
        TestJob *t = g_new0(TestJob, 1);
        t->job.work = work;
        t->job.done = done;
        t->index = index;
        t->sleep_ms = sleep_ms;
        t->result = result;
        t->ctx = c;
        return t;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Ctx *c = userdata;

        if (atomic_load(&c->in_slow_job))
                c->timer_ticks_during_job++;
        (void) sd_event_source_set_time_relative(s, 10 * 1000);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void ctx_init(Ctx *c) {
        *c = (Ctx) {};
        c->order_work = g_array_new(FALSE, FALSE, sizeof(int));
        c->order_done = g_array_new(FALSE, FALSE, sizeof(int));
        pthread_mutex_init(&c->lock, NULL);
        c->main_thread = pthread_self();
        g_assert_cmpint(sd_event_new(&c->event), >=, 0);
}

static void ctx_done(Ctx *c) {
        g_array_free(c->order_work, TRUE);
        g_array_free(c->order_done, TRUE);
        pthread_mutex_destroy(&c->lock);
        sd_event_unref(c->event);
}

static void run_until(Ctx *c, int n_done) {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        while (c->done_count < n_done) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(c->event, 100 * 1000), >=, 0);
        }
}

static void test_serial_in_order(void) {
        Ctx c;
        JobQueue *q = NULL;

        ctx_init(&c);
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        for (int i = 0; i < 50; i++)
                g_assert_cmpint(job_queue_submit(q, &new_job(&c, i, i % 3, -i)->job), ==, 0);
        run_until(&c, 50);
        g_assert_cmpint(atomic_load(&c.max_running), ==, 1);
        g_assert_cmpuint(c.order_work->len, ==, 50);
        for (int i = 0; i < 50; i++) {
                g_assert_cmpint(g_array_index(c.order_work, int, i), ==, i);
                g_assert_cmpint(g_array_index(c.order_done, int, i), ==, i);
        }
        g_assert_cmpuint(job_queue_pending(q), ==, 0);
        job_queue_free(q);
        ctx_done(&c);
}

static void test_main_loop_responsive(void) {
        Ctx c;
        JobQueue *q = NULL;
        sd_event_source *timer = NULL;

        ctx_init(&c);
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        g_assert_cmpint(sd_event_add_time_relative(c.event, &timer, CLOCK_MONOTONIC, 10 * 1000, 1,
                                                   on_timer, &c), >=, 0);

        g_assert_cmpint(job_queue_submit(q, &new_job(&c, 0, 500, 0)->job), ==, 0);
        run_until(&c, 1);
        /* a 10 ms timer kept firing during the 500 ms job: the loop was not
         * blocked (a blocked loop gets 0; the bound is loose for valgrind) */
        g_test_message("timer ticks during the slow job: %d", c.timer_ticks_during_job);
        g_assert_cmpint(c.timer_ticks_during_job, >=, 3);
        sd_event_source_unref(timer);
        job_queue_free(q);
        ctx_done(&c);
}

static void test_free_cancels_pending(void) {
        Ctx c;
        JobQueue *q = NULL;

        ctx_init(&c);
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        g_assert_cmpint(job_queue_submit(q, &new_job(&c, 0, 200, 7)->job), ==, 0);
        for (int i = 1; i < 5; i++)
                g_assert_cmpint(job_queue_submit(q, &new_job(&c, i, 0, 0)->job), ==, 0);
        /* let the first one start, then shut down */
        while (atomic_load(&c.running) == 0 && c.order_work->len == 0)
                g_usleep(1000);
        job_queue_free(q);
        /* every done ran exactly once: the running one finished, the rest
         * were cancelled */
        g_assert_cmpint(c.done_count, ==, 5);
        g_assert_cmpint(c.cancelled, ==, 4);
        g_assert_cmpuint(c.order_done->len, ==, 1);
        ctx_done(&c);
}

static void test_bad_job(void) {
        Ctx c;
        JobQueue *q = NULL;
        Job j = {};

        ctx_init(&c);
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        g_assert_cmpint(job_queue_submit(q, &j), ==, -EINVAL);
        job_queue_free(q);
        ctx_done(&c);
}

/* job_call_main(): the callback runs on the main thread, in the order the
 * job asks, and its value comes back to the worker; while the queue is
 * freed (no main loop any more) it runs in the worker instead. */
typedef struct {
        Job job;
        Ctx *ctx;
        int calls_wanted;
        int results_sum;
        GArray *seen;        /* step numbers in the order the main loop saw them */
        bool on_main[16];
} CallJob;

static int call_main_cb(Job *j, void *userdata) {
        CallJob *cj = (CallJob *) j;
        int step = GPOINTER_TO_INT(userdata);

        cj->on_main[step] = pthread_equal(pthread_self(), cj->ctx->main_thread);
        g_array_append_val(cj->seen, step);
        return step * 10;
}

static int call_work(Job *j) {
        CallJob *cj = (CallJob *) j;

        job_set_progress(j, "calling");
        for (int i = 0; i < cj->calls_wanted; i++)
                cj->results_sum += job_call_main(j, call_main_cb, GINT_TO_POINTER(i));
        return 0;
}

static void call_done(Job *j, int result) {
        CallJob *cj = (CallJob *) j;
        cj->ctx->done_count++;
}

static void test_call_main(void) {
        Ctx c;
        JobQueue *q = NULL;
        CallJob cj = { .job.work = call_work, .job.done = call_done, .calls_wanted = 8 };
        char buf[JOB_PROGRESS_MAX];

        ctx_init(&c);
        cj.ctx = &c;
        cj.seen = g_array_new(FALSE, FALSE, sizeof(int));
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        g_assert_cmpint(job_queue_submit(q, &cj.job), ==, 0);
        run_until(&c, 1);
        g_assert_cmpuint(cj.seen->len, ==, 8);
        for (int i = 0; i < 8; i++) {
                g_assert_cmpint(g_array_index(cj.seen, int, i), ==, i);
                g_assert_true(cj.on_main[i]);
        }
        g_assert_cmpint(cj.results_sum, ==, 10 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7));
        job_get_progress(&cj.job, buf, sizeof buf);
        g_assert_cmpstr(buf, ==, "calling");
        job_queue_free(q);
        g_array_free(cj.seen, TRUE);
        ctx_done(&c);
}

static void test_call_main_while_freeing(void) {
        Ctx c;
        JobQueue *q = NULL;
        CallJob cj = { .job.work = call_work, .job.done = call_done, .calls_wanted = 3 };

        ctx_init(&c);
        cj.ctx = &c;
        cj.seen = g_array_new(FALSE, FALSE, sizeof(int));
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        g_assert_cmpint(job_queue_submit(q, &cj.job), ==, 0);
        /* never run the loop: free must not hang; the calls run in the
         * worker while the main thread waits for it */
        while (job_queue_pending(q) > 0 && cj.seen->len == 0) {
                char buf[JOB_PROGRESS_MAX];
                job_get_progress(&cj.job, buf, sizeof buf);
                if (buf[0])
                        break;
                g_usleep(1000);
        }
        job_queue_free(q);
        g_assert_cmpint(c.done_count, ==, 1);
        g_assert_cmpuint(cj.seen->len, ==, 3);
        g_assert_cmpint(cj.results_sum, ==, 0 + 10 + 20);
        g_array_free(cj.seen, TRUE);
        ctx_done(&c);
}

static void test_cancel(void) {
        Ctx c;
        JobQueue *q = NULL;
        TestJob *slow, *queued;

        ctx_init(&c);
        g_assert_cmpint(job_queue_new(c.event, &q), ==, 0);
        slow = new_job(&c, 0, 300, 0);
        queued = new_job(&c, 1, 0, 0);
        g_assert_cmpint(job_queue_submit(q, &slow->job), ==, 0);
        g_assert_cmpint(job_queue_submit(q, &queued->job), ==, 0);
        while (c.order_work->len == 0)
                g_usleep(1000);
        /* running: not cancellable; queued: cancelled now, done called once */
        g_assert_cmpint(job_queue_cancel(q, &slow->job), ==, 0);
        g_assert_cmpint(job_queue_cancel(q, &queued->job), ==, 1);
        g_assert_cmpint(c.cancelled, ==, 1);
        run_until(&c, 2);
        g_assert_cmpint(c.cancelled, ==, 1);
        g_assert_cmpuint(c.order_work->len, ==, 1);
        g_assert_cmpuint(job_queue_pending(q), ==, 0);
        job_queue_free(q);
        ctx_done(&c);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/job-queue/serial-in-order", test_serial_in_order);
        g_test_add_func("/job-queue/main-loop-responsive", test_main_loop_responsive);
        g_test_add_func("/job-queue/free-cancels-pending", test_free_cancels_pending);
        g_test_add_func("/job-queue/bad-job", test_bad_job);
        g_test_add_func("/job-queue/call-main", test_call_main);
        g_test_add_func("/job-queue/call-main-while-freeing", test_call_main_while_freeing);
        g_test_add_func("/job-queue/cancel", test_cancel);
        return g_test_run();
}
