/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Builds a sysfs-like tree for libfakekernel.so from a truth file recorded
 * in a VM by tests/vm/guest/pci_sysfs.py (tests/data/testbeds/q35-vm.truth.json):
 *
 *   ROOT/devices/pci0000:00/.../ADDR/{vendor,device,subsystem_vendor,
 *        subsystem_device,class,revision,numa_node,driver_override,
 *        reset (if the kernel had one),reset_method,driver ->,iommu_group ->,
 *        subsystem ->,physfn ->,virtfnN ->,sriov_*,.fakekernel_native_driver}
 *   ROOT/bus/pci/devices/ADDR -> ../../../devices/.../ADDR
 *   ROOT/bus/pci/drivers/NAME/{bind,unbind,new_id,remove_id,ADDR ->}
 *   ROOT/bus/pci/{drivers_probe,drivers_autoprobe,rescan}
 *   ROOT/kernel/iommu_groups/N/{type,devices/ADDR ->}
 *
 * Driver directories: every driver bound in the truth file plus e1000e,
 * e1000, nvme, pcieport, vfio-pci and pci-stub.  The native driver of a
 * function is the one bound in the truth file; a VF without one gets its
 * PF's driver (a VF is driverless only because the PF's
 * sriov_drivers_autoprobe was 0, which is also written).
 *
 * Refuses (-EPERM) a root that is "/" or in the real sysfs.  Returns 0 or
 * -errno; on error *ret_error (if given) is a malloc'd message. */
int fakekernel_tree_build(const char *root, const char *truth_json, char **ret_error);
