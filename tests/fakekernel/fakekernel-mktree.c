/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fakekernel-mktree ROOT TRUTH.json: builds a sysfs-like tree for
 * libfakekernel.so in the existing directory ROOT (for shell-driven tests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakekernel-tree.h"

int main(int argc, char **argv) {
        char *error = NULL;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s ROOT TRUTH.json\n", argv[0]);
                return 2;
        }
        r = fakekernel_tree_build(argv[1], argv[2], &error);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[0], error ? error : strerror(-r));
                free(error);
                return 1;
        }
        return 0;
}
