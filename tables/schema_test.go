package tables

import (
	"reflect"
	"strings"
	"testing"
)

// Expected columns and keys, taken from xCAT's perl-xCAT/xCAT/Schema.pm %tabspec.
func TestSchemaColumnsAndKeys(t *testing.T) {
	tests := []struct {
		name string
		cols []string
		keys []string
	}{
		{"site", []string{"key", "value", "comments", "disable"}, []string{"key"}},
		{"nodelist", []string{"node", "groups", "status", "statustime", "appstatus", "appstatustime", "primarysn", "hidden", "updatestatus", "updatestatustime", "zonename", "comments", "disable"}, []string{"node"}},
		{"nodegroup", []string{"groupname", "grouptype", "members", "membergroups", "wherevals", "comments", "disable"}, []string{"groupname"}},
		{"nodetype", []string{"node", "os", "arch", "profile", "provmethod", "supportedarchs", "nodetype", "comments", "disable"}, []string{"node"}},
		{"noderes", []string{"node", "servicenode", "netboot", "tftpserver", "tftpdir", "nfsserver", "monserver", "nfsdir", "installnic", "primarynic", "discoverynics", "cmdinterface", "xcatmaster", "current_osimage", "next_osimage", "nimserver", "routenames", "nameservers", "proxydhcp", "comments", "disable"}, []string{"node"}},
		{"nodepos", []string{"node", "rack", "u", "chassis", "slot", "room", "height", "comments", "disable"}, []string{"node"}},
		{"nodehm", []string{"node", "power", "mgt", "cons", "termserver", "termport", "conserver", "serialport", "serialspeed", "serialflow", "getmac", "cmdmapping", "consoleondemand", "comments", "disable"}, []string{"node"}},
		{"hosts", []string{"node", "ip", "hostnames", "otherinterfaces", "comments", "disable"}, []string{"node"}},
		{"mac", []string{"node", "interface", "mac", "comments", "disable"}, []string{"node"}},
		{"networks", []string{"netname", "net", "mask", "mgtifname", "gateway", "dhcpserver", "tftpserver", "nameservers", "ntpservers", "logservers", "dynamicrange", "staticrange", "staticrangeincrement", "nodehostname", "ddnsdomain", "vlanid", "domain", "mtu", "comments", "disable"}, []string{"net", "mask"}},
		{"osimage", []string{"imagename", "groups", "profile", "imagetype", "description", "provmethod", "rootfstype", "osdistroname", "osupdatename", "cfmdir", "osname", "osvers", "osarch", "synclists", "postscripts", "postbootscripts", "serverrole", "isdeletable", "kitcomponents", "environvar", "nfsrootopts", "comments", "disable"}, []string{"imagename"}},
		{"linuximage", []string{"imagename", "template", "boottarget", "addkcmdline", "pkglist", "pkgdir", "otherpkglist", "otherpkgdir", "exlist", "postinstall", "rootimgdir", "kerneldir", "nodebootif", "otherifce", "netdrivers", "kernelver", "krpmver", "permission", "dump", "crashkernelsize", "partitionfile", "driverupdatesrc", "comments", "disable"}, []string{"imagename"}},
		{"litefile", []string{"image", "file", "options", "comments", "disable"}, []string{"image", "file"}},
		{"litetree", []string{"priority", "image", "directory", "mntopts", "comments", "disable"}, []string{"priority"}},
		{"statelite", []string{"node", "image", "statemnt", "mntopts", "comments", "disable"}, []string{"node"}},
		{"chain", []string{"node", "currstate", "currchain", "chain", "ondiscover", "comments", "disable"}, []string{"node"}},
		{"bootparams", []string{"node", "kernel", "initrd", "kcmdline", "addkcmdline", "dhcpstatements", "adddhcpstatements", "comments", "disable"}, []string{"node"}},
	}
	if got := len(TableNames()); got != len(tests) {
		t.Errorf("TableNames() has %d tables, want %d: %v", got, len(tests), TableNames())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LookupSchema(tt.name)
			if err != nil {
				t.Fatalf("LookupSchema(%q): %v", tt.name, err)
			}
			if !reflect.DeepEqual(s.Columns, tt.cols) {
				t.Errorf("columns:\n got %v\nwant %v", s.Columns, tt.cols)
			}
			if !reflect.DeepEqual(s.Keys, tt.keys) {
				t.Errorf("keys: got %v, want %v", s.Keys, tt.keys)
			}
			n := len(s.Columns)
			if n < 2 || s.Columns[n-2] != "comments" || s.Columns[n-1] != "disable" {
				t.Errorf("columns do not end with comments,disable: %v", s.Columns)
			}
			if s.Desc == "" {
				t.Errorf("no table description")
			}
			for _, c := range s.Columns {
				if s.ColDesc[c] == "" {
					t.Errorf("column %s has no description", c)
				}
			}
			for c := range s.ColDesc {
				if s.Col(c) < 0 {
					t.Errorf("description for unknown column %s", c)
				}
			}
			if len(s.Required) == 0 {
				t.Errorf("no required columns")
			}
			wantNodeKeyed := len(tt.keys) == 1 && tt.keys[0] == "node"
			if s.NodeKeyed != wantNodeKeyed {
				t.Errorf("NodeKeyed = %v, want %v", s.NodeKeyed, wantNodeKeyed)
			}
			if s.KV != (tt.name == "site") {
				t.Errorf("KV = %v", s.KV)
			}
		})
	}
}

func TestLookupSchemaUnknown(t *testing.T) {
	s, err := LookupSchema("nosuch")
	if err == nil {
		t.Fatalf("LookupSchema(nosuch) = %v, want error", s)
	}
	if !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("error %q does not name the table", err)
	}
}
