#!/bin/sh
# Debian's Chromium without CAP_SYS_NICE. As root it raises its main and IO threads to nice -8, ahead of the test
# files that run beside a browser test and time their own waits; here it stays at the nice level it was given.
exec setpriv --bounding-set=-sys_nice /usr/bin/chromium "$@"
