package boot

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"statelite/resolver"
)

// BenchmarkKernel8MB moves an 8 MiB kernel from <rootimgdir> to a Go client on loopback:
// over our TFTP (pin/tftp client, lock-step, default blksize 512 and the 1468 a PXE ROM
// asks for on Ethernet) and over our HTTP server. Run:
//
//	go test ./boot -run '^$' -bench Kernel8MB -benchtime 5x
func BenchmarkKernel8MB(b *testing.B) {
	const size = 8 << 20
	f := newFixture(b, size, nil)
	name := ImageFile(image, KernelName)
	for _, bs := range []int{512, 1468} {
		b.Run("tftp-blksize-"+itoa(bs), func(b *testing.B) {
			rt := startTFTP(b, f)
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				opt := bs
				if bs == 512 {
					opt = 0 // no blksize option: RFC 1350's 512
				}
				got, _, err := rt.get(name, opt)
				if err != nil || len(got) != size {
					b.Fatalf("%v (%d bytes)", err, len(got))
				}
			}
		})
	}
	b.Run("http", func(b *testing.B) {
		res := resolver.New(f.snap, resolver.Config{})
		srv, err := New(Config{Resolver: func() *resolver.Resolver { return res }, TFTPRoot: f.tftproot})
		if err != nil {
			b.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		defer hs.Close()
		b.SetBytes(size)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r, err := http.Get(hs.URL + "/" + name)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			n, err := io.Copy(&buf, r.Body)
			r.Body.Close()
			if err != nil || n != size || r.StatusCode != 200 {
				b.Fatalf("%v %d %d", err, n, r.StatusCode)
			}
		}
	})
}
