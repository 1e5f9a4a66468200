/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between libfakekernel.so (the LD_PRELOAD kernel player), the tree
 * generator and the tests that use them.  See README.md. */

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKEKERNEL_ABI "1"

/* Hidden files the fake kernel keeps next to the attributes it plays. */
#define FAKEKERNEL_NATIVE_FILE ".fakekernel_native_driver"   /* drivers matching the ids, probe order */
#define FAKEKERNEL_RESET_COUNT_FILE ".fakekernel_reset_count" /* successful resets */
#define FAKEKERNEL_LOG_FILE ".fakekernel-log"                 /* in the root: one line per played write */
/* under umockdev: $UMOCKDEV_DIR/dev/vfio/N while a function of group N is on a vfio driver */
#define FAKEKERNEL_VFIO_MAJOR 243
#define FAKEKERNEL_DELAYED_FILE ".fakekernel-delayed"         /* in the root: the write sleeping now */

/* Exported by libfakekernel.so; "fakekernel 1". */
const char *fakekernel_info(void);

/* fakekernel_info() of the preloaded library, NULL when libfakekernel.so
 * is not loaded in this process (tests never link against it). */
static inline const char *fakekernel_preloaded_info(void) {
        const char *(*info)(void) = (const char *(*)(void)) dlsym(RTLD_DEFAULT, "fakekernel_info");
        return info ? info() : NULL;
}

static inline bool fakekernel_preloaded(void) {
        return fakekernel_preloaded_info() != NULL;
}
