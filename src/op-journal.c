/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "json-checked.h"
#include "json-util.h"
#include "macro.h"
#include "op-journal.h"
#include "reservation.h"

/* root, the list, one entry */
#define OP_JOURNAL_DEPTH_MAX 4
#define OP_JOURNAL_OPS_MAX 4096

static const char *const kind_names[_FUNCTION_OP_MAX] = {
        [FUNCTION_OP_DETACH] = "detach",
        [FUNCTION_OP_REATTACH] = "reattach",
        [FUNCTION_OP_TAKEOVER] = "takeover",
};

const char *function_operation_to_string(FunctionOperationKind k) {
        return k >= 0 && k < _FUNCTION_OP_MAX ? kind_names[k] : NULL;
}

FunctionOperationKind function_operation_from_string(const char *s) {
        for (int k = 0; s && k < _FUNCTION_OP_MAX; k++)
                if (streq(s, kind_names[k]))
                        return k;
        return _FUNCTION_OP_INVALID;
}

bool boot_id_valid(const char *s) {
        if (!s || strlen(s) != BOOT_ID_STRLEN - 1)
                return false;
        for (size_t i = 0; i < BOOT_ID_STRLEN - 1; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        }
        return true;
}

int boot_id_read(const char *path, char buf[BOOT_ID_STRLEN]) {
        char line[64];
        ssize_t n;

        n = read_line_at(AT_FDCWD, path ?: "/proc/sys/kernel/random/boot_id", line, sizeof line);
        if (n < 0)
                return (int) n;
        if (!boot_id_valid(line))
                return -EBADMSG;
        memcpy(buf, line, BOOT_ID_STRLEN);
        return 0;
}

static void op_done(FunctionOperation *op) {
        op->driver = mfree(op->driver);
        op->driver_override = mfree(op->driver_override);
        op->target = mfree(op->target);
        op->reservation = mfree(op->reservation);
}

void op_journal_done(OpJournal *j) {
        for (size_t i = 0; i < j->n_ops; i++)
                op_done(&j->ops[i]);
        j->ops = mfree(j->ops);
        j->n_ops = 0;
}

const FunctionOperation *op_journal_find(const OpJournal *j, const PciAddress *a) {
        for (size_t i = 0; i < j->n_ops; i++)
                if (pci_address_compare(&j->ops[i].address, a) == 0)
                        return &j->ops[i];
        return NULL;
}

bool op_journal_remove(OpJournal *j, const PciAddress *a) {
        for (size_t i = 0; i < j->n_ops; i++)
                if (pci_address_compare(&j->ops[i].address, a) == 0) {
                        op_done(&j->ops[i]);
                        memmove(j->ops + i, j->ops + i + 1, (j->n_ops - i - 1) * sizeof(*j->ops));
                        j->n_ops--;
                        return true;
                }
        return false;
}

static int dup_or_null(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int op_journal_add(OpJournal *j, const FunctionOperation *op) {
        FunctionOperation c = { .kind = op->kind, .address = op->address, .vendor_id = op->vendor_id,
                                .device_id = op->device_id, .reprobe = op->reprobe };
        FunctionOperation *nv;

        if (op->kind < 0 || op->kind >= _FUNCTION_OP_MAX)
                return -EINVAL;
        if (dup_or_null(op->driver, &c.driver) < 0 || dup_or_null(op->driver_override, &c.driver_override) < 0 ||
            dup_or_null(op->target, &c.target) < 0 || dup_or_null(op->reservation, &c.reservation) < 0) {
                op_done(&c);
                return -ENOMEM;
        }
        (void) op_journal_remove(j, &op->address);
        nv = realloc(j->ops, (j->n_ops + 1) * sizeof(*nv));
        if (!nv) {
                op_done(&c);
                return -ENOMEM;
        }
        j->ops = nv;
        j->ops[j->n_ops++] = c;
        return 0;
}

static int get_strdup_driver(json_object *o, const char *key, char **ret) {
        const char *s;
        int r;

        r = json_get_driver(o, key, true, &s);
        if (r < 0)
                return r;
        return dup_or_null(s, ret);
}

static int parse_op(json_object *o, FunctionOperation *ret) {
        static const char *const keys[] = { "operation", "address", "vendor_id", "device_id", "driver",
                                            "driver_override", "target", "reprobe", "reservation" };
        const char *kind, *rid;
        uint64_t vendor, device;
        int r;

        *ret = (FunctionOperation) {};
        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_string(o, "operation", false, &kind)) < 0 ||
            (r = json_get_address(o, "address", &ret->address)) < 0 ||
            (r = json_get_u64(o, "vendor_id", UINT16_MAX, &vendor)) < 0 ||
            (r = json_get_u64(o, "device_id", UINT16_MAX, &device)) < 0 ||
            (r = json_get_bool(o, "reprobe", &ret->reprobe)) < 0 ||
            (r = json_get_string(o, "reservation", true, &rid)) < 0)
                return r;
        ret->kind = function_operation_from_string(kind);
        if (ret->kind < 0 || (rid && !reservation_id_is_valid(rid)))
                return -EBADMSG;
        /* a takeover is always a reserved function's, nothing else is */
        if ((ret->kind == FUNCTION_OP_TAKEOVER) != !!rid)
                return -EBADMSG;
        ret->vendor_id = (uint16_t) vendor;
        if (ret->reprobe && ret->kind != FUNCTION_OP_REATTACH)
                return -EBADMSG;
        ret->device_id = (uint16_t) device;
        if ((r = get_strdup_driver(o, "driver", &ret->driver)) < 0 ||
            (r = get_strdup_driver(o, "driver_override", &ret->driver_override)) < 0 ||
            (r = get_strdup_driver(o, "target", &ret->target)) < 0 ||
            (r = dup_or_null(rid, &ret->reservation)) < 0) {
                op_done(ret);
                return r;
        }
        return 0;
}

int op_journal_parse(const char *text, size_t size, OpJournal *ret) {
        static const char *const keys[] = { "format", "boot_id", "operations" };
        _cleanup_(json_object_putp) json_object *root = NULL;
        OpJournal j = {};
        json_object *array;
        const char *boot_id;
        int64_t format;
        size_t len;
        int r;

        if (!ret)
                return -EINVAL;
        r = json_parse_strict(text, size, OP_JOURNAL_FILE_MAX, OP_JOURNAL_DEPTH_MAX, &root);
        if (r < 0)
                return r;
        r = json_get_format(root, OP_JOURNAL_FORMAT_VERSION, OP_JOURNAL_FORMAT_VERSION, &format);
        if (r < 0)
                return r;
        if ((r = json_check_keys(root, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_string(root, "boot_id", false, &boot_id)) < 0 ||
            (r = json_get_member(root, "operations", json_type_array, false, &array)) < 0)
                return r;
        if (!boot_id_valid(boot_id))
                return -EBADMSG;
        memcpy(j.boot_id, boot_id, BOOT_ID_STRLEN);
        len = json_object_array_length(array);
        if (len > OP_JOURNAL_OPS_MAX)
                return -EBADMSG;
        if (len > 0 && !(j.ops = calloc(len, sizeof(*j.ops))))
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                r = parse_op(json_object_array_get_idx(array, i), &j.ops[j.n_ops]);
                if (r >= 0 && op_journal_find(&j, &j.ops[j.n_ops].address)) {
                        op_done(&j.ops[j.n_ops]);
                        r = -EBADMSG;  /* one function, two operations */
                }
                if (r < 0) {
                        op_journal_done(&j);
                        return r;
                }
                j.n_ops++;
        }
        *ret = j;
        return 0;
}

char *op_journal_format(const OpJournal *j) {
        _cleanup_(json_object_putp) json_object *root = NULL, *list = NULL;
        char buf[PCI_ADDRESS_STRLEN];

        root = json_object_new_object();
        list = json_object_new_array();
        if (!root || !list)
                return NULL;
        if (json_add(root, "format", json_object_new_int(OP_JOURNAL_FORMAT_VERSION)) < 0 ||
            json_add(root, "boot_id", json_object_new_string(j->boot_id)) < 0)
                return NULL;
        for (size_t i = 0; i < j->n_ops; i++) {
                const FunctionOperation *op = &j->ops[i];
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();

                if (!o ||
                    json_add(o, "operation", json_object_new_string(function_operation_to_string(op->kind))) < 0 ||
                    json_add(o, "address", json_object_new_string(pci_address_format(&op->address, buf))) < 0 ||
                    json_add(o, "vendor_id", json_object_new_int(op->vendor_id)) < 0 ||
                    json_add(o, "device_id", json_object_new_int(op->device_id)) < 0 ||
                    json_add_string_or_null(o, "driver", op->driver) < 0 ||
                    json_add_string_or_null(o, "driver_override", op->driver_override) < 0 ||
                    json_add_string_or_null(o, "target", op->target) < 0 ||
                    json_add(o, "reprobe", json_object_new_boolean(op->reprobe)) < 0 ||
                    json_add_string_or_null(o, "reservation", op->reservation) < 0 ||
                    json_array_add_take(list, TAKE_PTR(o)) < 0)
                        return NULL;
        }
        if (json_add(root, "operations", TAKE_PTR(list)) < 0)
                return NULL;
        return json_file_text(root);
}

int op_journal_load(const char *dir, OpJournal *ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int dfd = -1;
        size_t size;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        *ret = (OpJournal) {};
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 && errno != ENOENT)
                return negative_errno();
        r = dfd < 0 ? -ENOENT : read_regular_file_at(dfd, OP_JOURNAL_FILE_NAME, OP_JOURNAL_FILE_MAX, &buf, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (size > OP_JOURNAL_FILE_MAX)
                return -EBADMSG;
        return op_journal_parse(buf, size, ret);
}

int op_journal_save(const char *dir, const OpJournal *j) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dfd = -1;

        if (!dir || !j)
                return -EINVAL;
        if (j->n_ops == 0) {
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return errno == ENOENT ? 0 : negative_errno();
                if (unlinkat(dfd, OP_JOURNAL_FILE_NAME, 0) < 0 && errno != ENOENT)
                        return negative_errno();
                return fsync(dfd) < 0 ? negative_errno() : 0;
        }
        if (!boot_id_valid(j->boot_id))
                return -EINVAL;
        text = op_journal_format(j);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(dir, OP_JOURNAL_FILE_NAME, text, strlen(text), 0644);
}
