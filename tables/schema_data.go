package tables

// schemaList holds every table statelite knows, columns in xCAT's Schema.pm order.
// (Placeholder: being completed from Schema.pm.)
var schemaList = []*Schema{
	{Name: "site", Columns: []string{"key", "value", "comments", "disable"}, Keys: []string{"key"}, Required: []string{"key"}, KV: true},
	{Name: "nodelist", Columns: []string{"node", "groups", "status", "statustime", "appstatus", "appstatustime", "primarysn", "hidden", "updatestatus", "updatestatustime", "zonename", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "nodegroup", Columns: []string{"groupname", "grouptype", "members", "membergroups", "wherevals", "comments", "disable"}, Keys: []string{"groupname"}, Required: []string{"groupname"}},
	{Name: "nodetype", Columns: []string{"node", "os", "arch", "profile", "provmethod", "supportedarchs", "nodetype", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "noderes", Columns: []string{"node", "servicenode", "netboot", "tftpserver", "tftpdir", "nfsserver", "monserver", "nfsdir", "installnic", "primarynic", "discoverynics", "cmdinterface", "xcatmaster", "current_osimage", "next_osimage", "nimserver", "routenames", "nameservers", "proxydhcp", "syslog", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "nodepos", Columns: []string{"node", "rack", "u", "chassis", "slot", "room", "height", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "nodehm", Columns: []string{"node", "power", "mgt", "cons", "termserver", "termport", "conserver", "serialport", "serialspeed", "serialflow", "getmac", "cmdmapping", "consoleondemand", "consoleenabled", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "hosts", Columns: []string{"node", "ip", "hostnames", "otherinterfaces", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "mac", Columns: []string{"node", "interface", "mac", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "osimage", Columns: []string{"imagename", "groups", "profile", "imagetype", "description", "provmethod", "rootfstype", "osdistroname", "osupdatename", "cfmdir", "osname", "osvers", "osarch", "synclists", "postscripts", "postbootscripts", "serverrole", "isdeletable", "kitcomponents", "environvar", "nfsrootopts", "comments", "disable"}, Keys: []string{"imagename"}, Required: []string{"imagename"}},
	{Name: "linuximage", Columns: []string{"imagename", "template", "boottarget", "addkcmdline", "pkglist", "pkgdir", "otherpkglist", "otherpkgdir", "exlist", "postinstall", "rootimgdir", "kerneldir", "nodebootif", "otherifce", "netdrivers", "kernelver", "krpmver", "permission", "dump", "crashkernelsize", "partitionfile", "driverupdatesrc", "comments", "disable"}, Keys: []string{"imagename"}, Required: []string{"imagename"}},
	{Name: "litefile", Columns: []string{"image", "file", "options", "comments", "disable"}, Keys: []string{"image", "file"}, Required: []string{"image", "file"}},
	{Name: "litetree", Columns: []string{"priority", "image", "directory", "mntopts", "comments", "disable"}, Keys: []string{"priority"}, Required: []string{"priority", "directory"}},
	{Name: "statelite", Columns: []string{"node", "image", "statemnt", "mntopts", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node", "statemnt"}, NodeKeyed: true},
	{Name: "chain", Columns: []string{"node", "currstate", "currchain", "chain", "ondiscover", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
	{Name: "bootparams", Columns: []string{"node", "kernel", "initrd", "kcmdline", "addkcmdline", "dhcpstatements", "adddhcp", "comments", "disable"}, Keys: []string{"node"}, Required: []string{"node"}, NodeKeyed: true},
}
