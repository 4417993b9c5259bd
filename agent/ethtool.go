package agent

import (
	"golang.org/x/sys/unix"
)

// ethtoolDriver asks the kernel for an interface's driver name
// (ETHTOOL_GDRVINFO), which also works for virtual devices.
func ethtoolDriver(ifname string) (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname)
	if err != nil {
		return "", err
	}
	return unix.ByteSliceToString(info.Driver[:]), nil
}
