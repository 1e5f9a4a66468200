/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "job-queue.h"
#include "macro.h"

struct JobQueue {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *todo_head, *todo_tail;       /* guarded by lock */
        Job *done_head, *done_tail;       /* guarded by lock */
        unsigned pending;                 /* guarded by lock */
        bool stopping;                    /* guarded by lock */
        bool thread_started;
        /* job_call_main(): one request at a time (there is one worker) */
        JobMainFunc call_fn;              /* guarded by lock */
        void *call_userdata;
        Job *call_job;
        int call_result;
        bool call_pending, call_done;     /* guarded by lock */
        int efd;                          /* worker -> main loop: "something is done" */
        sd_event_source *source;
};

static void append(Job **head, Job **tail, Job *j) {
        j->next = NULL;
        if (*tail)
                (*tail)->next = j;
        else
                *head = j;
        *tail = j;
}

static Job *pop(Job **head, Job **tail) {
        Job *j = *head;
        if (j) {
                *head = j->next;
                if (!*head)
                        *tail = NULL;
                j->next = NULL;
        }
        return j;
}

static void *worker(void *userdata) {
        JobQueue *q = userdata;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                Job *j;
                uint64_t one = 1;

                while (!q->todo_head && !q->stopping)
                        pthread_cond_wait(&q->cond, &q->lock);
                if (!q->todo_head)
                        break;  /* stopping and nothing left */
                if (q->stopping)
                        break;  /* the rest is cancelled by job_queue_free() */
                j = pop(&q->todo_head, &q->todo_tail);
                j->started = true;
                pthread_mutex_unlock(&q->lock);

                j->result = j->work(j);

                pthread_mutex_lock(&q->lock);
                append(&q->done_head, &q->done_tail, j);
                /* an eventfd write only fails on counter overflow */
                (void) !write(q->efd, &one, sizeof one);
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

static void dispatch_done(JobQueue *q) {
        for (;;) {
                Job *j;

                pthread_mutex_lock(&q->lock);
                j = pop(&q->done_head, &q->done_tail);
                if (j)
                        q->pending--;
                pthread_mutex_unlock(&q->lock);
                if (!j)
                        return;
                j->done(j, j->result);
        }
}

/* Runs the worker's pending job_call_main() request, if any. */
static void dispatch_call(JobQueue *q) {
        JobMainFunc fn;
        int r;

        pthread_mutex_lock(&q->lock);
        if (!q->call_pending) {
                pthread_mutex_unlock(&q->lock);
                return;
        }
        q->call_pending = false;
        fn = q->call_fn;
        pthread_mutex_unlock(&q->lock);

        r = fn(q->call_job, q->call_userdata);

        pthread_mutex_lock(&q->lock);
        q->call_result = r;
        q->call_done = true;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JobQueue *q = userdata;
        uint64_t n;

        (void) !read(fd, &n, sizeof n);
        /* Finished jobs first: the worker put a job on the done list
         * before it began the next one, whose job_call_main() request may
         * be pending too; the main loop must see them in that order. */
        dispatch_done(q);
        dispatch_call(q);
        return 0;
}

int job_call_main(Job *j, JobMainFunc fn, void *userdata) {
        JobQueue *q = j->queue;
        uint64_t one = 1;
        int r;

        pthread_mutex_lock(&q->lock);
        if (q->stopping) {
                /* the main thread is in job_queue_free(), waiting for us */
                pthread_mutex_unlock(&q->lock);
                return fn(j, userdata);
        }
        q->call_fn = fn;
        q->call_userdata = userdata;
        q->call_job = j;
        q->call_done = false;
        q->call_pending = true;
        (void) !write(q->efd, &one, sizeof one);
        while (!q->call_done && !(q->stopping && q->call_pending))
                pthread_cond_wait(&q->cond, &q->lock);
        if (!q->call_done) {
                /* stopping before the main loop took the request: it never
                 * will, and the main thread only waits for us now */
                q->call_pending = false;
                pthread_mutex_unlock(&q->lock);
                return fn(j, userdata);
        }
        r = q->call_result;
        pthread_mutex_unlock(&q->lock);
        return r;
}

void job_set_progress(Job *j, const char *text) {
        pthread_mutex_lock(&j->queue->lock);
        snprintf(j->progress, sizeof j->progress, "%s", text);
        pthread_mutex_unlock(&j->queue->lock);
}

void job_get_progress(Job *j, char *buf, size_t size) {
        if (size == 0)
                return;
        pthread_mutex_lock(&j->queue->lock);
        snprintf(buf, size, "%s", j->progress);
        pthread_mutex_unlock(&j->queue->lock);
}

int job_queue_cancel(JobQueue *q, Job *j) {
        Job **p, *prev = NULL;

        pthread_mutex_lock(&q->lock);
        for (p = &q->todo_head; *p; prev = *p, p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        if (q->todo_tail == j)
                                q->todo_tail = prev;
                        j->next = NULL;
                        q->pending--;
                        pthread_mutex_unlock(&q->lock);
                        j->done(j, -ECANCELED);
                        return 1;
                }
        pthread_mutex_unlock(&q->lock);
        return 0;
}

int job_queue_new(sd_event *event, JobQueue **ret) {
        JobQueue *q;
        int r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cond, NULL);
        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->efd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(event, &q->source, q->efd, EPOLLIN, on_done, q);
        if (r < 0)
                goto fail;
        r = -pthread_create(&q->thread, NULL, worker, q);
        if (r < 0)
                goto fail;
        q->thread_started = true;
        *ret = q;
        return 0;
fail:
        job_queue_free(q);
        return r;
}

JobQueue *job_queue_free(JobQueue *q) {
        Job *j;

        if (!q)
                return NULL;
        pthread_mutex_lock(&q->lock);
        q->stopping = true;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->lock);
        if (q->thread_started)
                pthread_join(q->thread, NULL);

        /* finished jobs first, then the ones that never ran */
        dispatch_done(q);
        while ((j = pop(&q->todo_head, &q->todo_tail))) {
                q->pending--;
                j->done(j, -ECANCELED);
        }
        sd_event_source_disable_unref(q->source);
        if (q->efd >= 0)
                close(q->efd);
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return NULL;
}

int job_queue_submit(JobQueue *q, Job *j) {
        if (!j || !j->work || !j->done)
                return -EINVAL;
        pthread_mutex_lock(&q->lock);
        if (q->stopping) {
                pthread_mutex_unlock(&q->lock);
                return -ESHUTDOWN;
        }
        j->queue = q;
        j->started = false;
        j->progress[0] = 0;
        append(&q->todo_head, &q->todo_tail, j);
        q->pending++;
        pthread_cond_signal(&q->cond);
        pthread_mutex_unlock(&q->lock);
        return 0;
}

unsigned job_queue_pending(JobQueue *q) {
        unsigned n;

        pthread_mutex_lock(&q->lock);
        n = q->pending;
        pthread_mutex_unlock(&q->lock);
        return n;
}
