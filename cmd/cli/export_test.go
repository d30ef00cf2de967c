package cli

import (
	"os"
	"path/filepath"
)

// SetDefaultConfigFile points the default config file (/etc/statelite/statelite.conf)
// elsewhere for a test; the returned function restores it.
func SetDefaultConfigFile(p string) (restore func()) {
	old := defaultConfigFile
	defaultConfigFile = p
	return func() { defaultConfigFile = old }
}

// The tests of this package never read the host's /etc/statelite/statelite.conf.
func init() {
	defaultConfigFile = filepath.Join(os.TempDir(), "statelite-cli-test-no-config", "statelite.conf")
}
