// Package e2e holds the tests that boot a real Linux kernel under qemu (TCG) against
// statelite's servers: a node with its root over NFS (TestQemuNFSRoot), a PXE boot
// through the TFTP server (TestQemuPXEBoot), a node seeing live changes (TestQemuLive)
// and a node whose server is killed with kill -9 and restarted under its workload
// (TestQemuCrash, where `statelite serve` is a separate process built by TestMain).
//
// It holds tests only. Each boot takes 10-30 s of CPU under TCG, so the package runs on
// its own, one test binary at a time and without the race detector:
//
//	go test -count=1 -p 1 -timeout 30m ./e2e/...
//
// (make test does so after the other packages). The guests' scripts and the build of
// their kernel and initramfs are in testdata/qemu; the kernel comes from Debian's
// packages, cached in $STATELITE_QEMU_CACHE (else the user cache directory). Without
// qemu or the build's tools the tests are skipped, or fail under CI (qemutest.Skip).
package e2e
