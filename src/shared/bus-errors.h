/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Error names of the org.pciassign1 API (see org.pciassign1(5)). */
#define BUS_ERROR_INVALID_ADDRESS     "org.pciassign1.Error.InvalidAddress"
#define BUS_ERROR_NO_SUCH_DEVICE      "org.pciassign1.Error.NoSuchDevice"
#define BUS_ERROR_NO_SUCH_GROUP       "org.pciassign1.Error.NoSuchGroup"
#define BUS_ERROR_NO_SUCH_RESERVATION "org.pciassign1.Error.NoSuchReservation"
#define BUS_ERROR_NOT_ASSIGNABLE      "org.pciassign1.Error.NotAssignable"
#define BUS_ERROR_GROUP_INCOMPLETE    "org.pciassign1.Error.GroupIncomplete"
#define BUS_ERROR_ALREADY_RESERVED    "org.pciassign1.Error.AlreadyReserved"
#define BUS_ERROR_IN_USE              "org.pciassign1.Error.InUse"
#define BUS_ERROR_UNSAFE_RESET        "org.pciassign1.Error.UnsafeReset"
#define BUS_ERROR_NOT_OWNER           "org.pciassign1.Error.NotOwner"
#define BUS_ERROR_OPERATION_FAILED    "org.pciassign1.Error.OperationFailed"
#define BUS_ERROR_READ_ONLY           "org.pciassign1.Error.ReadOnly"
