/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

/* The one queue through which every rebind and reset on the host goes.
 * One worker thread runs jobs one at a time, in submission order (this is
 * the serialization); the main loop never blocks on sysfs.  A job's
 * `work` runs in the worker thread and may only touch what the job owns
 * (its inputs were copied into it at submission); its `done` runs on the
 * main loop afterwards, where the model is updated and the waiting D-Bus
 * call answered. */

typedef struct Job Job;
typedef struct JobQueue JobQueue;

typedef int (*JobWorkFunc)(Job *j);               /* worker thread */
typedef void (*JobDoneFunc)(Job *j, int result);  /* main loop; frees the job */

struct Job {
        JobWorkFunc work;
        JobDoneFunc done;
        void *userdata;
        /* set by the queue */
        int result;
        Job *next;
};

/* Starts the worker thread; completions arrive on `event`. */
int job_queue_new(sd_event *event, JobQueue **ret);

/* Stops accepting jobs, lets the running job finish, runs the `done` of
 * every job (pending ones with -ECANCELED), joins the thread. */
JobQueue *job_queue_free(JobQueue *q);

/* Queues a job; its `done` will be called exactly once. */
int job_queue_submit(JobQueue *q, Job *j);

/* Jobs queued or running (for STATUS= and tests). */
unsigned job_queue_pending(JobQueue *q);
