/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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
typedef int (*JobMainFunc)(Job *j, void *userdata);  /* main loop, see job_call_main() */

#define JOB_PROGRESS_MAX 256

struct Job {
        JobWorkFunc work;
        JobDoneFunc done;
        void *userdata;
        /* set by the queue */
        int result;
        bool started;                  /* guarded by the queue's lock */
        char progress[JOB_PROGRESS_MAX];  /* guarded by the queue's lock */
        JobQueue *queue;
        Job *next;
};

/* Starts the worker thread; completions arrive on `event`. */
int job_queue_new(sd_event *event, JobQueue **ret);

/* Stops accepting jobs, lets the running job finish, runs the `done` of
 * every job (pending ones with -ECANCELED), joins the thread. */
JobQueue *job_queue_free(JobQueue *q);

/* Queues a job; its `done` will be called exactly once. */
int job_queue_submit(JobQueue *q, Job *j);

/* Removes a job that has not started yet and calls its `done` with
 * -ECANCELED now.  Returns 1 if it did, 0 if the job is running or done
 * (its `done` comes as usual). */
int job_queue_cancel(JobQueue *q, Job *j);

/* From a job's `work`: runs fn(j, userdata) on the main loop and waits for
 * its return value.  This is how a job asks the owner of the model and the
 * state file to do something in order with its own steps (write the
 * journal before a sysfs write).  While the queue is being freed the main
 * loop no longer runs: fn is then called right here, in the worker, while
 * the main thread waits for the worker to end, so never concurrently. */
int job_call_main(Job *j, JobMainFunc fn, void *userdata);

/* What a running job is doing now, for messages ("unbind 0000:01:00.0
 * from vfio-pci").  Set from `work`, read from the main loop. */
void job_set_progress(Job *j, const char *text);
void job_get_progress(Job *j, char *buf, size_t size);

/* Jobs queued or running (for STATUS= and tests). */
unsigned job_queue_pending(JobQueue *q);
