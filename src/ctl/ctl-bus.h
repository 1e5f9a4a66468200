/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "json-util.h"
#include "macro.h"

/* The D-Bus side of pci-assignctl: names from API.md, calls that print the
 * one error line a user sees, and a generic reader that turns any D-Bus value
 * into JSON so that properties the client does not know yet still show up. */

#define PA_BUS_NAME           "org.pciassign1"
#define PA_MANAGER_PATH       "/org/pciassign1"
#define PA_MANAGER_IFACE      "org.pciassign1.Manager"
#define PA_DEVICE_IFACE       "org.pciassign1.Device"
#define PA_GROUP_IFACE        "org.pciassign1.Group"
#define PA_RESERVATION_IFACE  "org.pciassign1.Reservation"

/* sd-bus.h already provides sd_bus_flush_close_unrefp() and
 * sd_bus_message_unrefp(); json-util.h json_object_putp(). */
#define _cleanup_bus_ _cleanup_(sd_bus_flush_close_unrefp)
#define _cleanup_bus_message_ _cleanup_(sd_bus_message_unrefp)
#define _cleanup_json_ _cleanup_(json_object_putp)

/* "pci-assignctl: <text>" on stderr; returns r so callers can
 * "return log_error_errno(r, ...)". */
_printf_(2, 3) int log_error_errno(int r, const char *fmt, ...);

/* "pci-assignctl: CTX: org.x.Error.Name: message", or the errno text when
 * the failure did not come with a D-Bus error.  Returns r. */
int log_bus_error(const char *ctx, const sd_bus_error *error, int r);

/* A reply that does not have the shape we expect: names the signature we
 * got instead of crashing or printing garbage.  Returns r. */
int log_parse_error(const char *ctx, sd_bus_message *m, int r);

int ctl_bus_connect(sd_bus **ret);

/* A method call on the daemon; args (may be NULL) is appended by the
 * caller through ctl_new_call().  On failure prints one line naming ctx
 * (unless ctx is NULL: lookups whose failure is not fatal) and returns the
 * negative errno. */
int ctl_new_call(sd_bus *bus, const char *path, const char *iface, const char *member, sd_bus_message **ret);
int ctl_call(sd_bus *bus, sd_bus_message *m, const char *ctx, sd_bus_message **ret_reply);

/* Methods that change the host are queued by the daemon and may wait for a
 * reset or for polkit asking the user: org.pciassign1(5) asks clients for a
 * timeout of a minute or more. */
#define CTL_MUTATE_TIMEOUT_USEC (UINT64_C(300) * 1000 * 1000)

/* ctl_call() with a timeout (0: the sd-bus default).  When ret_error is not
 * NULL and the call fails with a D-Bus error, the error is moved there and
 * nothing is printed: the caller decides (e.g. an object that went away
 * meanwhile is skipped). */
int ctl_call_full(sd_bus *bus, sd_bus_message *m, uint64_t timeout_usec, const char *ctx,
                  sd_bus_error *ret_error, sd_bus_message **ret_reply);

/* org.freedesktop.DBus.Properties.GetAll(iface) on path, as a JSON object
 * keyed by property name (see bus_message_read_json()). */
int ctl_get_all_properties(sd_bus *bus, const char *path, const char *iface, const char *ctx, json_object **ret);
int ctl_get_all_properties_full(sd_bus *bus, const char *path, const char *iface, const char *ctx,
                                sd_bus_error *ret_error, json_object **ret);

/* Reads the next complete value of m into JSON: integers as numbers,
 * booleans, strings, object paths and signatures as strings, arrays and
 * structs as arrays, variants as their content, dictionaries as objects
 * (non-string keys are written in decimal).  Returns 0 or a negative errno
 * (-ENXIO when there is no value left). */
int bus_message_read_json(sd_bus_message *m, json_object **ret);
