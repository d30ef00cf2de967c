package tables

// Table and column definitions of the xCAT tables statelite knows. Columns,
// keys, required columns, table descriptions and column descriptions follow
// the %tabspec of xCAT's perl-xCAT/xCAT/Schema.pm (xcat2/xcat-core, EPL);
// the very long descriptions of site.key and litefile.options are condensed.

const (
	descComments    = `Any user-written notes.`
	descDisable     = `Set to 'yes' or '1' to comment out this row.`
	descNodeOrGroup = `The node name or group name.`
)

// schemaList holds every table statelite knows, columns in xCAT's Schema.pm order.
var schemaList = []*Schema{
	{
		Name:     "site",
		Columns:  []string{"key", "value", "comments", "disable"},
		Keys:     []string{"key"},
		Required: []string{"key"},
		KV:       true,
		Desc: "Global settings for the whole cluster.  This table is different from the \n" +
			"other tables in that each attribute is just named in the key column, rather \n" +
			"than having a separate column for each attribute. The following is a list of \n" +
			"attributes currently used by xCAT organized into categories.\n",
		ColDesc: map[string]string{
			"key":      siteKeyDesc,
			"value":    `The value of the attribute specified in the "key" column.`,
			"comments": descComments,
			"disable":  descDisable,
		},
	},
	{
		Name:      "nodelist",
		Columns:   []string{"node", "groups", "status", "statustime", "appstatus", "appstatustime", "primarysn", "hidden", "updatestatus", "updatestatustime", "zonename", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `The list of all the nodes in the cluster, including each node's current status and what groups it is in.`,
		ColDesc: map[string]string{
			"node":             `The hostname of a node in the cluster.`,
			"groups":           `A comma-delimited list of groups this node is a member of.  Group names are arbitrary, except all nodes should be part of the 'all' group. Internal group names are designated by using __<groupname>.  For example, __Unmanaged, could be the internal name for a group of nodes that is not managed by xCAT. Admins should avoid using the __ characters when defining their groups.`,
			"status":           `The current status of this node.  This attribute will be set by xCAT software.  Valid values: defined, booting, netbooting, booted, discovering, configuring, installing, alive, standingby, powering-off, unreachable. If blank, defined is assumed. The possible status change sequenses are: For installaton: defined->[discovering]->[configuring]->[standingby]->installing->booting->booted->[alive],  For diskless deployment: defined->[discovering]->[configuring]->[standingby]->netbooting->booted->[alive],  For booting: [alive/unreachable]->booting->[alive],  For powering off: [alive]->powering-off->[unreachable], For monitoring: alive->unreachable. Discovering and configuring are for x Series dicovery process. Alive and unreachable are set only when there is a monitoring plug-in start monitor the node status for xCAT. Please note that the status values will not reflect the real node status if you change the state of the node from outside of xCAT (i.e. power off the node using HMC GUI).`,
			"statustime":       `The data and time when the status was updated.`,
			"appstatus":        `A comma-delimited list of application status. For example: 'sshd=up,ftp=down,ll=down'`,
			"appstatustime":    `The date and time when appstatus was updated.`,
			"primarysn":        `Not used currently. The primary servicenode, used by this node.`,
			"hidden":           `Used to hide fsp and bpa definitions, 1 means not show them when running lsdef and nodels`,
			"updatestatus":     `The current node update status. Valid states are synced, out-of-sync,syncing,failed.`,
			"updatestatustime": `The date and time when the updatestatus was updated.`,
			"zonename":         `The name of the zone to which the node is currently assigned. If undefined, then it is not assigned to any zone. `,
			"comments":         descComments,
			"disable":          descDisable,
		},
	},
	{
		Name:     "nodegroup",
		Columns:  []string{"groupname", "grouptype", "members", "membergroups", "wherevals", "comments", "disable"},
		Keys:     []string{"groupname"},
		Required: []string{"groupname"},
		Desc:     `Contains group definitions, whose membership is dynamic depending on characteristics of the node.`,
		ColDesc: map[string]string{
			"groupname":    `Name of the group.`,
			"grouptype":    `The only current valid value is dynamic.  We will be looking at having the object def commands working with static group definitions in the nodelist table.`,
			"members":      `The value of the attribute is not used, but the attribute is necessary as a place holder for the object def commands.  (The membership for static groups is stored in the nodelist table.)`,
			"membergroups": `This attribute stores a comma-separated list of nodegroups that this nodegroup refers to. This attribute is only used by PCM.`,
			"wherevals":    `A list of "attr*val" pairs that can be used to determine the members of a dynamic group, the delimiter is "::" and the operator * can be ==, =~, != or !~.`,
			"comments":     descComments,
			"disable":      descDisable,
		},
	},
	{
		Name:      "nodetype",
		Columns:   []string{"node", "os", "arch", "profile", "provmethod", "supportedarchs", "nodetype", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `A few hardware and software characteristics of the nodes.`,
		ColDesc: map[string]string{
			"node":           descNodeOrGroup,
			"os":             `The operating system deployed on this node.  Valid values: AIX, rhels*,rhelc*, rhas*,centos*,SL*, fedora*, sles* (where * is the version #). As a special case, if this is set to "boottarget", then it will use the initrd/kernel/parameters specified in the row in the boottarget table in which boottarget.bprofile equals nodetype.profile.`,
			"arch":           `The hardware architecture of this node.  Valid values: x86_64, ppc64, x86, ia64.`,
			"profile":        `The string to use to locate a kickstart or autoyast template to use for OS deployment of this node.  If the provmethod attribute is set to an osimage name, that takes precedence, and profile need not be defined.  Otherwise, the os, profile, and arch are used to search for the files in /install/custom first, and then in /opt/xcat/share/xcat.`,
			"provmethod":     `The provisioning method for node deployment. The valid values are install, netboot, statelite or an os image name from the osimage table. If an image name is specified, the osimage definition stored in the osimage table and the linuximage table (for Linux) or nimimage table (for AIX) are used to locate the files for templates, pkglists, syncfiles, etc. On Linux, if install, netboot or statelite is specified, the os, profile, and arch are used to search for the files in /install/custom first, and then in /opt/xcat/share/xcat.`,
			"supportedarchs": `Comma delimited list of architectures this node can execute.`,
			"nodetype":       `A comma-delimited list of characteristics of this node.  Valid values: ppc, blade, vm (virtual machine), osi (OS image), mm, mn, rsa, switch.`,
			"comments":       descComments,
			"disable":        descDisable,
		},
	},
	{
		Name:      "noderes",
		Columns:   []string{"node", "servicenode", "netboot", "tftpserver", "tftpdir", "nfsserver", "monserver", "nfsdir", "installnic", "primarynic", "discoverynics", "cmdinterface", "xcatmaster", "current_osimage", "next_osimage", "nimserver", "routenames", "nameservers", "proxydhcp", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `Resources and settings to use when installing nodes.`,
		ColDesc: map[string]string{
			"node":        descNodeOrGroup,
			"servicenode": `A comma separated list of node names (as known by the management node) that provides most services for this node. The first service node on the list that is accessible will be used.  The 2nd node on the list is generally considered to be the backup service node for this node when running commands like snmove.`,
			"netboot": "The type of network booting to use for this node.  Valid values:\n" +
				"                       Arch                  OS                           valid netboot options \n" +
				"                       x86, x86_64           ALL                          pxe, xnba \n" +
				"                       ppc64                 <=rhel6, <=sles11            yaboot\n" +
				"                       ppc64                 >=rhels7                     grub2,grub2-http,grub2-tftp\n" +
				"                 ppc64le NonVirtualize       ALL                          petitboot\n" +
				"                 ppc64le PowerKVM Guest      ALL                          grub2,grub2-http,grub2-tftp\n",
			"tftpserver":      `The TFTP server for this node (as known by this node). If not set, it defaults to networks.tftpserver.`,
			"tftpdir":         `The directory that roots this nodes contents from a tftp and related perspective.  Used for NAS offload by using different mountpoints.`,
			"nfsserver":       `The NFS or HTTP server for this node (as known by this node).`,
			"monserver":       `The monitoring aggregation point for this node. The format is "x,y" where x is the ip address as known by the management node and y is the ip address as known by the node.`,
			"nfsdir":          `The path that should be mounted from the NFS server.`,
			"installnic":      `The network adapter on the node that will be used for OS deployment, the installnic can be set to the network adapter name or the mac address or the keyword "mac" which means that the network interface specified by the mac address in the mac table will be used.  If not set, primarynic will be used. If primarynic is not set too, the keyword "mac" will be used as default.`,
			"primarynic":      `This attribute will be deprecated. All the used network interface will be determined by installnic. The network adapter on the node that will be used for xCAT management, the primarynic can be set to the network adapter name or the mac address or the keyword "mac" which means that the network interface specified by the mac address in the mac table  will be used.  Default is eth0.`,
			"discoverynics":   `If specified, force discovery to occur on specific network adapters only, regardless of detected connectivity.  Syntax can be simply "eth2,eth3" to restrict discovery to whatever happens to come up as eth2 and eth3, or by driver name such as "bnx2:0,bnx2:1" to specify the first two adapters managed by the bnx2 driver`,
			"cmdinterface":    `Not currently used.`,
			"xcatmaster":      `The hostname of the xCAT service node (as known by this node).  This acts as the default value for nfsserver and tftpserver, if they are not set.  If xcatmaster is not set, the node will use whoever responds to its boot request as its master.  For the directed bootp case for POWER, it will use the management node if xcatmaster is not set.`,
			"current_osimage": `Not currently used.  The name of the osimage data object that represents the OS image currently deployed on this node.`,
			"next_osimage":    `Not currently used.  The name of the osimage data object that represents the OS image that will be installed on the node the next time it is deployed.`,
			"nimserver":       `Not used for now. The NIM server for this node (as known by this node).`,
			"routenames":      `A comma separated list of route names that refer to rows in the routes table. These are the routes that should be defined on this node when it is deployed.`,
			"nameservers":     `An optional node/group specific override for name server list.  Most people want to stick to site or network defined nameserver configuration.`,
			"proxydhcp":       `To specify whether the node supports proxydhcp protocol. Valid values: yes or 1, no or 0. Default value is yes.`,
			"comments":        descComments,
			"disable":         descDisable,
		},
	},
	{
		Name:      "nodepos",
		Columns:   []string{"node", "rack", "u", "chassis", "slot", "room", "height", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `Contains info about the physical location of each node.  Currently, this info is not used by xCAT, and therefore can be in whatevery format you want.  It will likely be used in xCAT in the future.`,
		ColDesc: map[string]string{
			"node":     descNodeOrGroup,
			"rack":     `The frame the node is in.`,
			"u":        `The vertical position of the node in the frame`,
			"chassis":  `The BladeCenter chassis the blade is in.`,
			"slot":     `The slot number of the blade in the chassis. For PCM, a comma-separated list of slot numbers is stored`,
			"room":     `The room where the node is located.`,
			"height":   `The server height in U(s).`,
			"comments": descComments,
			"disable":  descDisable,
		},
	},
	{
		Name:      "nodehm",
		Columns:   []string{"node", "power", "mgt", "cons", "termserver", "termport", "conserver", "serialport", "serialspeed", "serialflow", "getmac", "cmdmapping", "consoleondemand", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `Settings that control how each node's hardware is managed.  Typically, an additional table that is specific to the hardware type of the node contains additional info.  E.g. the ipmi, mp, and ppc tables.`,
		ColDesc: map[string]string{
			"node":            descNodeOrGroup,
			"power":           `The method to use to control the power of the node. If not set, the mgt attribute will be used.  Valid values: ipmi, blade, hmc, ivm, fsp, kvm, esx, rhevm.  If "ipmi", xCAT will search for this node in the ipmi table for more info.  If "blade", xCAT will search for this node in the mp table.  If "hmc", "ivm", or "fsp", xCAT will search for this node in the ppc table.`,
			"mgt":             `The method to use to do general hardware management of the node.  This attribute is used as the default if power or getmac is not set.  Valid values: ipmi, blade, hmc, ivm, fsp, bpa, kvm, esx, rhevm.  See the power attribute for more details.`,
			"cons":            `The console method. If nodehm.serialport is set, this will default to the nodehm.mgt setting, otherwise it defaults to unused.  Valid values: cyclades, mrv, or the values valid for the mgt attribute.`,
			"termserver":      `The hostname of the terminal server.`,
			"termport":        `The port number on the terminal server that this node is connected to.`,
			"conserver":       `The hostname of the machine where the conserver daemon is running.  If not set, the default is the xCAT management node.`,
			"serialport":      `The serial port for this node, in the linux numbering style (0=COM1/ttyS0, 1=COM2/ttyS1).  For SOL on IBM blades, this is typically 1.  For rackmount IBM servers, this is typically 0.`,
			"serialspeed":     `The speed of the serial port for this node.  For SOL this is typically 19200.`,
			"serialflow":      `The flow control value of the serial port for this node.  For SOL this is typically 'hard'.`,
			"getmac":          `The method to use to get MAC address of the node with the getmac command. If not set, the mgt attribute will be used.  Valid values: same as values for mgmt attribute.`,
			"cmdmapping":      `The fully qualified name of the file that stores the mapping between PCM hardware management commands and xCAT/third-party hardware management commands for a particular type of hardware device.  Only used by PCM.`,
			"consoleondemand": `This overrides the value from site.consoleondemand; (0=no, 1=yes). Default is the result from site.consoleondemand.`,
			"comments":        descComments,
			"disable":         descDisable,
		},
	},
	{
		Name:      "hosts",
		Columns:   []string{"node", "ip", "hostnames", "otherinterfaces", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `IP addresses and hostnames of nodes.  This info is optional and is only used to populate /etc/hosts and DNS via makehosts and makedns.  Using regular expressions in this table can be a quick way to populate /etc/hosts.`,
		ColDesc: map[string]string{
			"node":            descNodeOrGroup,
			"ip":              `The IP address of the node. This is only used in makehosts.  The rest of xCAT uses system name resolution to resolve node names to IP addresses.`,
			"hostnames":       `Hostname aliases added to /etc/hosts for this node. Comma or blank separated list.`,
			"otherinterfaces": `Other IP addresses to add for this node.  Format: -<ext>:<ip>,<intfhostname>:<ip>,...`,
			"comments":        descComments,
			"disable":         descDisable,
		},
	},
	{
		Name:     "networks",
		Columns:  []string{"netname", "net", "mask", "mgtifname", "gateway", "dhcpserver", "tftpserver", "nameservers", "ntpservers", "logservers", "dynamicrange", "staticrange", "staticrangeincrement", "nodehostname", "ddnsdomain", "vlanid", "domain", "mtu", "comments", "disable"},
		Keys:     []string{"net", "mask"},
		Required: []string{"net", "mask"},
		Desc:     `Describes the networks in the cluster and info necessary to set up nodes on that network.`,
		ColDesc: map[string]string{
			"netname":              `Name used to identify this network definition.`,
			"net":                  `The network address.`,
			"mask":                 `The network mask.`,
			"mgtifname":            `The interface name of the management/service node facing this network.  !remote!<nicname> indicates a non-local network on a specific nic for relay DHCP.`,
			"gateway":              `The network gateway. It can be set to an ip address or the keyword <xcatmaster>, the keyword <xcatmaster> indicates the cluster-facing ip address configured on this management node or service node. Leaving this field blank means that there is no gateway for this network.`,
			"dhcpserver":           `The DHCP server that is servicing this network.  Required to be explicitly set for pooled service node operation.`,
			"tftpserver":           `The TFTP server that is servicing this network.  If not set, the DHCP server is assumed.`,
			"nameservers":          `A comma delimited list of DNS servers that each node in this network should use. This value will end up in the nameserver settings of the /etc/resolv.conf on each node in this network. If this attribute value is set to the IP address of an xCAT node, make sure DNS is running on it. In a hierarchical cluster, you can also set this attribute to "<xcatmaster>" to mean the DNS server for each node in this network should be the node that is managing it (either its service node or the management node).`,
			"ntpservers":           `The ntp servers for this network.  Used in creating the DHCP network definition.  Assumed to be the DHCP server if not set.`,
			"logservers":           `The log servers for this network.  Used in creating the DHCP network definition.  Assumed to be the DHCP server if not set.`,
			"dynamicrange":         `The IP address range used by DHCP to assign dynamic IP addresses for requests on this network.  This should not overlap with entities expected to be configured with static host declarations, i.e. anything ever expected to be a node with an address registered in the mac table.`,
			"staticrange":          `The IP address range used to dynamically assign static IPs to newly discovered nodes.  This should not overlap with the dynamicrange nor overlap with entities that were manually assigned static IPs.  The format for the attribute value is:    <startip>-<endip>.`,
			"staticrangeincrement": `The increment of the static range.`,
			"nodehostname":         `A regular expression used to specify node name to network-specific hostname.  i.e. "/\z/-secondary/" would mean that the hostname of "n1" would be n1-secondary on this network.  By default, the nodename is assumed to equal the hostname, followed by nodename-interfacename.`,
			"ddnsdomain":           `A domain to be combined with nodename to construct FQDN for DDNS updates induced by DHCP.  This is not passed down to the client as "domain".`,
			"vlanid":               `The vlan ID if this network is within a vlan.`,
			"domain":               `The DNS domain name (ex. cluster.com).`,
			"mtu":                  `The MTU for the network.`,
			"comments":             descComments,
			"disable":              descDisable,
		},
	},
	{
		Name:      "mac",
		Columns:   []string{"node", "interface", "mac", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `The MAC address of the node's install adapter.  Normally this table is populated by getmacs or node discovery, but you can also add entries to it manually.`,
		ColDesc: map[string]string{
			"node":      descNodeOrGroup,
			"interface": `The adapter interface name that will be used to install and manage the node. E.g. eth0 (for linux) or en0 (for AIX).)`,
			"mac":       `The mac address or addresses for which xCAT will manage static bindings for this node.  This may be simply a mac address, which would be bound to the node name (such as "01:02:03:04:05:0E").  This may also be a "|" delimited string of "mac address!hostname" format (such as "01:02:03:04:05:0E!node5|01:02:03:05:0F!node6-eth1").`,
			"comments":  descComments,
			"disable":   descDisable,
		},
	},
	{
		Name:     "osimage",
		Columns:  []string{"imagename", "groups", "profile", "imagetype", "description", "provmethod", "rootfstype", "osdistroname", "osupdatename", "cfmdir", "osname", "osvers", "osarch", "synclists", "postscripts", "postbootscripts", "serverrole", "isdeletable", "kitcomponents", "environvar", "nfsrootopts", "comments", "disable"},
		Keys:     []string{"imagename"},
		Required: []string{"imagename"},
		Desc:     `Basic information about an operating system image that can be used to deploy cluster nodes.`,
		ColDesc: map[string]string{
			"imagename":       `The name of this xCAT OS image definition.`,
			"groups":          `A comma-delimited list of image groups of which this image is a member.  Image groups can be used in the litefile and litetree table instead of a single image name. Group names are arbitrary.`,
			"profile":         `The node usage category. For example compute, service.`,
			"imagetype":       `The type of operating system image this definition represents (linux,AIX).`,
			"description":     `OS Image Description`,
			"provmethod":      `The provisioning method for node deployment. The valid values are install, netboot,statelite,boottarget,dualboot,sysclone. If boottarget is set, you must set linuximage.boottarget to the name of the boottarget definition. It is not used by AIX.`,
			"rootfstype":      `The filesystem type for the rootfs is used when the provmethod is statelite. The valid values are nfs or ramdisk. The default value is nfs`,
			"osdistroname":    `The name of the OS distro definition.  This attribute can be used to specify which OS distro to use, instead of using the osname,osvers,and osarch attributes. For *kit commands,  the attribute will be used to read the osdistro table for the osname, osvers, and osarch attributes. If defined, the osname, osvers, and osarch attributes defined in the osimage table will be ignored.`,
			"osupdatename":    `A comma-separated list of OS distro updates to apply to this osimage.`,
			"cfmdir":          `CFM directory name for PCM. Set to /install/osimages/<osimage name>/cfmdir by PCM. `,
			"osname":          `Operating system name- AIX or Linux.`,
			"osvers":          `The Linux operating system deployed on this node.  Valid values:  rhels*,rhelc*, rhas*,centos*,SL*, fedora*, sles* (where * is the version #).`,
			"osarch":          `The hardware architecture of this node.  Valid values: x86_64, ppc64, x86, ia64.`,
			"synclists":       `The fully qualified name of a file containing a list of files to synchronize on the nodes. Can be a comma separated list of multiple synclist files. The synclist generated by PCM named /install/osimages/<imagename>/synclist.cfm is reserved for use only by PCM and should not be edited by the admin.`,
			"postscripts":     `Comma separated list of scripts that should be run on this image after diskful installation or diskless boot. For installation of RedHat, CentOS, Fedora, the scripts will be run before the reboot. For installation of SLES, the scripts will be run after the reboot but before the init.d process. For diskless deployment, the scripts will be run at the init.d time, and xCAT will automatically add the list of scripts from the postbootscripts attribute to run after postscripts list. For installation of AIX, the scripts will run after the reboot and acts the same as the postbootscripts attribute.  For AIX, use the postbootscripts attribute. See the site table runbootscripts attribute. Support will be added in the future for  the postscripts attribute to run the scripts before the reboot in AIX. `,
			"postbootscripts": `Comma separated list of scripts that should be run on this after diskful installation or diskless boot. On AIX these scripts are run during the processing of /etc/inittab.  On Linux they are run at the init.d time. xCAT automatically adds the scripts in the xcatdefaults.postbootscripts attribute to run first in the list. See the site table runbootscripts attribute.`,
			"serverrole":      `The role of the server created by this osimage.  Default roles: mgtnode, servicenode, compute, login, storage, utility.`,
			"isdeletable":     `A flag to indicate whether this image profile can be deleted.  This attribute is only used by PCM.`,
			"kitcomponents":   `List of Kit Component IDs assigned to this OS Image definition.`,
			"environvar":      `Comma delimited environment variables for the osimage (VAR1=value1,VAR2=value2) to be exported to the install, postscript and genimage environment.`,
			"nfsrootopts":     `Extra NFS options for mounting the root of a statelite node: a comma list without blanks or empty items; rw and defaults are refused and ro always comes first (xCAT 2026, PR #7588).`,
			"comments":        descComments,
			"disable":         descDisable,
		},
	},
	{
		Name:     "linuximage",
		Columns:  []string{"imagename", "template", "boottarget", "addkcmdline", "pkglist", "pkgdir", "otherpkglist", "otherpkgdir", "exlist", "postinstall", "rootimgdir", "kerneldir", "nodebootif", "otherifce", "netdrivers", "kernelver", "krpmver", "permission", "dump", "crashkernelsize", "partitionfile", "driverupdatesrc", "comments", "disable"},
		Keys:     []string{"imagename"},
		Required: []string{"imagename"},
		Desc:     `Information about a Linux operating system image that can be used to deploy cluster nodes.`,
		ColDesc: map[string]string{
			"imagename":       `The name of this xCAT OS image definition.`,
			"template":        `The fully qualified name of the template file that will be used to create the OS installer configuration file for stateful installations (e.g.  kickstart for RedHat, autoyast for SLES).`,
			"boottarget":      `The name of the boottarget definition.  When this attribute is set, xCAT will use the kernel, initrd and kernel params defined in the boottarget definition instead of the default.`,
			"addkcmdline":     `User specified arguments to be passed to the kernel.  The user arguments are appended to xCAT.s default kernel arguments. For the kernel options need to be persistent after installation, specify them with prefix "R::".  This attribute is ignored if linuximage.boottarget is set.`,
			"pkglist":         `The fully qualified name of the file that stores the distro  packages list that will be included in the image. Make sure that if the pkgs in the pkglist have dependency pkgs, the dependency pkgs should be found in one of the pkgdir`,
			"pkgdir":          `The name of the directory where the distro packages are stored. It could be set multiple paths.The multiple paths must be seperated by ",". The first path in the value of osimage.pkgdir must be the OS base pkg dir path, such as pkgdir=/install/rhels6.2/x86_64,/install/updates . In the os base pkg path, there are default repository data. And in the other pkg path(s), the users should make sure there are repository data. If not, use "createrepo" command to create them. For ubuntu, multiple mirrors can be specified in the pkgdir attribute, the mirrors must be prefixed by the protocol(http/ssh) and delimited with "," between each other.`,
			"otherpkglist":    `The fully qualified name of the file that stores non-distro package lists that will be included in the image. It could be set multiple paths.The multiple paths must be seperated by ",".`,
			"otherpkgdir":     `The base directory where the non-distro packages are stored. Only 1 local directory supported at present.`,
			"exlist":          `The fully qualified name of the file that stores the file names and directory names that will be excluded from the image during packimage command.  It is used for diskless image only.`,
			"postinstall":     `The fully qualified name of the script file that will be run at the end of the genimage command. It could be set multiple paths.The multiple paths must be seperated by ",". It is used for diskless image only.`,
			"rootimgdir":      `The directory name where the image is stored.  It is generally used for diskless image. it also can be used in sysclone environment to specify where the image captured from golden client is stored. in sysclone environment, rootimgdir is generally assigned to some default value by xcat, but you can specify your own store directory. just one thing need to be noticed, wherever you save the image, the name of last level directory must be the name of image. for example, if your image name is testimage and you want to save this image under home directoy, rootimgdir should be assigned to value /home/testimage/`,
			"kerneldir":       `The directory name where the 3rd-party kernel is stored. It is used for diskless image only.`,
			"nodebootif":      `The network interface the stateless/statelite node will boot over (e.g. eth0)`,
			"otherifce":       `Other network interfaces (e.g. eth1) in the image that should be configured via DHCP`,
			"netdrivers":      `The ethernet device drivers of the nodes which will use this linux image, at least the device driver for the nodes' installnic should be included`,
			"kernelver":       `The version of linux kernel used in the linux image. If the kernel version is not set, the default kernel in rootimgdir will be used`,
			"krpmver":         `The rpm version of kernel packages (for SLES only). If it is not set, the default rpm version of kernel packages will be used.`,
			"permission":      `The mount permission of /.statelite directory is used, its default value is 755`,
			"dump":            `The NFS directory to hold the Linux kernel dump file (vmcore) when the node with this image crashes, its format is "nfs://<nfs_server_ip>/<kdump_path>". If you want to use the node's "xcatmaster" (its SN or MN), <nfs_server_ip> can be left blank. For example, "nfs:///<kdump_path>" means the NFS directory to hold the kernel dump file is on the node's SN, or MN if there's no SN.`,
			"crashkernelsize": `the size that assigned to the kdump kernel. If the kernel size is not set, 256M will be the default value.`,
			"partitionfile":   `The path of the configuration file which will be used to partition the disk for the node. For stateful osimages,two types of files are supported: "<partition file absolute path>" which contains a partitioning definition that will be inserted directly into the generated autoinst configuration file and must be formatted for the corresponding OS installer (e.g. kickstart for RedHat, autoyast for SLES, pressed for Ubuntu).  "s:<partitioning script absolute path>" which specifies a shell script that will be run from the OS installer configuration file %pre section;  the script must write the correct partitioning definition into the file /tmp/partitionfile on the node which will be included into the configuration file during the install process. For statelite osimages, partitionfile should specify "<partition file absolute path>";  see the xCAT Statelite documentation for the xCAT defined format of this configuration file.For Ubuntu, besides  "<partition file absolute path>" or "s:<partitioning script absolute path>", the disk name(s) to partition must be specified in traditional, non-devfs format, delimited with space,  it can be specified in 2 forms: "d:<the absolute path of the disk name file>" which contains the disk name(s) to partition and "s:d:<the absolute path of the disk script>" which runs in pressed/early_command and writes the disk names into the "/tmp/boot_disk" . To support other specific partition methods such as RAID or LVM in Ubuntu, some additional preseed values should be specified, these values can be specified with "c:<the absolute path of the additional pressed config file>" which contains the additional pressed entries in "d-i ..." form and "s:c:<the absolute path of the additional pressed config script>" which runs in pressed/early_command and set the preseed values with "debconf-set". The multiple values should be delimited with comma "," `,
			"driverupdatesrc": `The source of the drivers which need to be loaded during the boot. Two types of driver update source are supported: Driver update disk and Driver rpm package. The value for this attribute should be comma separated sources. Each source should be the format tab:full_path_of_srouce_file. The tab keyword can be: dud (for Driver update disk) and rpm (for driver rpm). If missing the tab, the rpm format is the default. e.g. dud:/install/dud/dd.img,rpm:/install/rpm/d.rpm`,
			"comments":        descComments,
			"disable":         descDisable,
		},
	},
	{
		Name:    "litefile",
		Columns: []string{"image", "file", "options", "comments", "disable"},
		Keys:    []string{"image", "file"},
		// image is a key, but blank means ALL (docs/behaviour.md#which-rows-apply), so
		// only file is required.
		Required: []string{"file"},
		Desc:     `The litefile table specifies the directories and files on the statelite nodes that should be readwrite, persistent, or readonly overlay.  All other files in the statelite nodes come from the readonly statelite image.`,
		ColDesc: map[string]string{
			"image":    `The name of the image (as specified in the osimage table) that will use these options on this dir/file. You can also specify an image group name that is listed in the osimage.groups attribute of some osimages. 'ALL' means use this row for all images.`,
			"file":     `The full pathname of the file. e.g: /etc/hosts.  If the path is a directory, then it should be terminated with a '/'. `,
			"options":  litefileOptionsDesc,
			"comments": descComments,
			"disable":  descDisable,
		},
	},
	{
		Name:     "litetree",
		Columns:  []string{"priority", "image", "directory", "mntopts", "comments", "disable"},
		Keys:     []string{"priority"},
		Required: []string{"priority", "directory"},
		Desc:     `Directory hierarchy to traverse to get the initial contents of node files.  The files that are specified in the litefile table are searched for in the directories specified in this table.`,
		ColDesc: map[string]string{
			"priority":  `This number controls what order the directories are searched.  Directories are searched from smallest priority number to largest.`,
			"image":     `The name of the image (as specified in the osimage table) that will use this directory. You can also specify an image group name that is listed in the osimage.groups attribute of some osimages. 'ALL' means use this row for all images.`,
			"directory": `The location (hostname:path) of a directory that contains files specified in the litefile table.  Variables are allowed.  E.g: $noderes.nfsserver://xcatmasternode/install/$node/#CMD=uname-r#/`,
			"mntopts":   `A comma-separated list of options to use when mounting the litetree directory.  (Ex. 'soft') The default is to do a 'hard' mount.`,
			"comments":  descComments,
			"disable":   descDisable,
		},
	},
	{
		Name:      "statelite",
		Columns:   []string{"node", "image", "statemnt", "mntopts", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node", "statemnt"},
		NodeKeyed: true,
		Desc:      `The location on an NFS server where a nodes persistent files are stored.  Any file marked persistent in the litefile table will be stored in the location specified in this table for that node.`,
		ColDesc: map[string]string{
			"node":     `The name of the node or group that will use this location.`,
			"image":    `Reserved for future development, not used. `,
			"statemnt": `The persistant read/write area where a node's persistent files will be written to, e.g: 10.0.0.1/state/.  The node name will be automatically added to the pathname, so 10.0.0.1:/state, will become 10.0.0.1:/state/<nodename>.`,
			"mntopts":  `A comma-separated list of options to use when mounting the persistent directory.  (Ex. 'soft') The default is to do a 'hard' mount. `,
			"comments": descComments,
			"disable":  descDisable,
		},
	},
	{
		Name:      "chain",
		Columns:   []string{"node", "currstate", "currchain", "chain", "ondiscover", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `Controls what operations are done (and it what order) when a node is discovered and deployed.`,
		ColDesc: map[string]string{
			"node":       descNodeOrGroup,
			"currstate":  `The current or next chain step to be executed on this node by xCAT-genesis.  Set by xCAT during node discovery or as a result of nodeset.`,
			"currchain":  `The chain steps still left to do for this node.  This attribute will be automatically adjusted by xCAT while xCAT-genesis is running on the node (either during node discovery or a special operation like firmware update).  During node discovery, this attribute is initialized from the chain attribute and updated as the chain steps are executed.`,
			"chain":      `A comma-delimited chain of actions to be performed automatically when this node is discovered. ("Discovered" means a node booted, but xCAT and DHCP did not recognize the MAC of this node. In this situation, xCAT initiates the discovery process, the last step of which is to run the operations listed in this chain attribute, one by one.) Valid values:  boot, runcmd=<cmd>, runimage=<URL>, shell, standby. (Default - same as no chain - it will do only the discovery.).  Example, for BMC machines use: runcmd=bmcsetup,shell.`,
			"ondiscover": `This attribute is currently not used by xCAT.  The "nodediscover" operation is always done during node discovery.`,
			"comments":   descComments,
			"disable":    descDisable,
		},
	},
	{
		Name:      "bootparams",
		Columns:   []string{"node", "kernel", "initrd", "kcmdline", "addkcmdline", "dhcpstatements", "adddhcpstatements", "comments", "disable"},
		Keys:      []string{"node"},
		Required:  []string{"node"},
		NodeKeyed: true,
		Desc:      `Current boot settings to be sent to systems attempting network boot for deployment, stateless, or other reasons.  Mostly automatically manipulated by xCAT.`,
		ColDesc: map[string]string{
			"node":              `The node or group name`,
			"kernel":            `The kernel that network boot actions should currently acquire and use.  Note this could be a chained boot loader such as memdisk or a non-linux boot loader`,
			"initrd":            `The initial ramdisk image that network boot actions should use (could be a DOS floppy or hard drive image if using memdisk as kernel)`,
			"kcmdline":          `Arguments to be passed to the kernel`,
			"addkcmdline":       `User specified one or more parameters to be passed to the kernel. For the kernel options need to be persistent after installation, specify them with prefix "R::"`,
			"dhcpstatements":    `xCAT manipulated custom dhcp statements (not intended for user manipulation)`,
			"adddhcpstatements": `Custom dhcp statements for administrator use (not implemneted yet)`,
			"comments":          descComments,
			"disable":           descDisable,
		},
	},
}

// litefileOptionsDesc is litefile.options, condensed from Schema.pm.
const litefileOptionsDesc = `Options for the file:

 tmpfs - The default if the options column is left blank. Provides a file or directory for the node to use when booting, with the same permission as the original on the server. Usually read-write, but non-persistent: on the next statelite boot the original version on the server is used again. Files and directories.

 rw - Same as tmpfs. The name "rw" does NOT mean it is always read-write; do not confuse it with the "rw" permission in the file system.

 persistent - A mounted file or directory that is copied to the xCAT persistent location and then over-mounted on the local file or directory. Anything written to it is preserved across reboots; if it does not exist at first it is copied to the persistent location. Its permission is that of the original in the statelite location. Requires the statelite table to be filled out with a spot for persistent statelite. Files and directories.

 con - The contents of the pathname are concatenated to the contents of the existing file. The litetree search does not stop at the first match: all files found in the hierarchy are concatenated. Permission "-rw-r--r--". Non-persistent: changes are lost on reboot. Files only, not directories.

 ro - Over-mounted read-only on the local file/directory from the litetree hierarchy; changes made on the server are seen immediately on the node. The file/directory must be available in one of the litetree entries. Files and directories.

 link - Copied from the server into tmpfs on the booted node and reached through a symbolic link in the local file system. The link shows permission "lrwxrwxrwx", not the real one, so permission-sensitive paths (e.g. "/root/.ssh/") should NOT use "link". Non-persistent. Files and directories.

 link,con - Like "con": all files found in the litetree hierarchy are concatenated; the result is put in tmpfs and reached through a symbolic link. Non-persistent. Files only.

 link,persistent - Copied to the xCAT persistent location and over-mounted on tmpfs, reached through a symbolic link. Persistent across reboots, with the permission of the original in the statelite location. Requires the statelite table to be filled out with a spot for persistent statelite. Files and directories.

 link,ro - Read-only, placed in tmpfs and reached through a symbolic link. Non-persistent. The file/directory must be available in one of the litetree entries. Files and directories.`

// siteKeyDesc is site.key: the site attributes by category, condensed from Schema.pm.
const siteKeyDesc = `Attribute Name:  Description

 ------------
AIX ATTRIBUTES
 ------------
 nimprime :   The name of NIM server, if not set default is the AIX MN.
              If Linux MN, then must be set for support of mixed cluster (TBD).
 useSSHonAIX:  (yes/1 or no/0). Default is yes.  The support for rsh/rcp is deprecated.
 useNFSv4onAIX:  (yes/1 or no/0). If yes, NFSv4 will be used with NIM. If no,
               NFSv3 will be used with NIM. Default is no.

 -----------------
DATABASE ATTRIBUTES
 -----------------
 auditnosyslog: If set to 1, commands are only written to the auditlog table.
                Default is to write to both the auditlog table and syslog.
 auditskipcmds: List of commands and/or client types (e.g. clienttype:web) that are
                not written to the auditlog table and syslog. 'ALL' skips all commands.
 databaseloc:   Directory where the db instance directory is created. Default is
                /var/lib. Only DB2 is currently supported. Must not be changed once
                db2sqlsetup has been run.
 excludenodes:  Comma separated nodes and/or groups automatically subtracted from any
                noderange (see the 'noderange' manpage).
 nodestatus:    If set to 'n', nodelist.status is not updated during deployment,
                discovery and power operations. The default is to update.
 skiptables:    Comma separated list of tables to be skipped by dumpxCATdb
 skipvalidatelog:  If set to 1, getcredentials and getpostscripts calls are not logged
                in syslog.

 -------------
DHCP ATTRIBUTES
 -------------
 dhcpinterfaces:  The network interfaces DHCP should listen on: a comma-separated list
                  of NICs, or per node/group, e.g. xcatmn|eth1,eth2;service|bond0.
 dhcpsetup:  If set to 'n', the dhcp setup process is skipped in the nodeset cmd.
 dhcplease:  The lease time for the dhcp client. The default value is 43200.
 disjointdhcps:  If set to '1', the .leases file on a service node only contains the
                 nodes it manages. The default '0' includes all the nodes in the subnet.
 pruneservices:  Whether to enable service pruning (removing DHCP entries) when noderm
                 is run.
 managedaddressmode: The mode of networking configuration during node provision:
                     'static' or 'dhcp'. The default is 'dhcp'.

 ------------
DNS ATTRIBUTES
 ------------
 dnshandler:  Name of plugin that handles DNS setup for makedns.
 domain:  The DNS domain name used for the cluster.
 forwarders:  The DNS servers at your site that can provide names outside of the
              cluster; makedns makes the management node forward unknown requests
              to them. Service nodes always forward to the management node.
 master:  The hostname of the xCAT management node, as known by the nodes.
 nameservers:  A comma delimited list of DNS servers that each node should use
               (/etc/resolv.conf). "<xcatmaster>" means the node's service node or
               management node.
 externaldns:  If set to any value, makedns will not start the local nameserver on
               the xCAT MN. Default is to start it.
 dnsupdaters:  ',' separated string added to the zone sections in named.conf.
 dnsinterfaces:  The network interfaces the DNS server should listen on, in the same
                 format as dhcpinterfaces. Do not block the interface of the MN ip.

 -------------------------
HARDWARE CONTROL ATTRIBUTES
 -------------------------
 blademaxp:  The maximum number of concurrent processes for blade hardware control.
 ea_primary_hmc:  The HMC that Integrated Switch Network Management Event Analysis
                  sends hardware serviceable events to.
 ea_backup_hmc:  The HMC to send those events to if the primary HMC is down.
 enableASMI:  (yes/1 or no/0). If yes, ASMI method will be used after fsp-api.
              Default is no.
 fsptimeout:  The timeout, in milliseconds, to use when communicating with FSPs.
 hwctrldispatch:  Whether to send hw control operations to the service node of the
                  target nodes. Default is 'y'. (Only used for IBM Flex System)
 ipmidispatch:  Whether to send ipmi hw control operations to the service node of
                the target compute nodes. Default is 'y'.
 ipmimaxp:  The max # of processes for ipmi hw ctrl. Default is 64. Only used for HP.
 ipmiretries:  The # of retries to use when communicating with BMCs. Default is 3.
 ipmisdrcache:  If set to 'no', the target node's SDR cache is not cached locally.
 ipmitimeout:  The timeout to use when communicating with BMCs. Default is 2.
               This attribute is currently not used.
 maxssh:  The max # of SSH connections at any one time to the hw ctrl point for PPC
          (not for rpower). Default is 8.
 syspowerinterval:  Seconds rpower waits between CECs (system p), or between sets of
                    <syspowermaxnodes> nodes (system x IPMI). Default is 0.
 syspowermaxnodes:  The number of servers to power on at one time before waiting
                    'syspowerinterval' seconds. IPMI only; must be set if
                    'syspowerinterval' is set.
 powerinterval:  Seconds rpower to LPARs waits between each LPAR. Default is 0.
                 Only used for system p hardware.
 ppcmaxp:  The max # of processes for PPC hw ctrl. Default is 64.
 ppcretry:  The max # of PPC hw connection attempts to HMC before failing. Default is 3.
 ppctimeout:  The timeout, in milliseconds, for PPC hw control through HMC. Default is 0.
 snmpc:  The snmp community string that xcat should use with the switches.
 rflash_delay:  rflash on OpenPOWER: seconds to wait for firmware initialization after
                cold reset. Default is 120; 0 means no delay.

 ---------------------------
INSTALL/DEPLOYMENT ATTRIBUTES
 ---------------------------
 cleanupxcatpost:  (yes/1 or no/0). Clean up /xcatpost on stateless and statelite
                   nodes after the postscripts are run. Default is no.
 db2installloc:  The location (hostname:/path) service nodes mount for the db2 code
                 to install. Default is /mntdb2.
 defserialflow:  The default serial flow - currently only used by the mknb command.
 defserialport:  The default serial port - currently only used by mknb.
 defserialspeed:  The default serial speed - currently only used by mknb.
 genmacprefix:  When generating mac addresses automatically, use this manufacturing
                prefix (e.g. 00:11:aa)
 genpasswords:  Automatically generate random passwords for BMCs when configuring them.
 installdir:  The local directory name used to hold the node deployment packages.
 installloc:  The location (hostname:/path) from which the service nodes mount the
              deployment packages. The path must match installdir.
 iscsidir:  The path to put the iscsi disks in on the mgmt node.
 mnroutenames:  Comma separated list of routes table names to set up on the MN.
 runbootscripts:  If 'yes', postbootscripts are run during each reboot of stateful
                  (diskful) nodes. Run 'updatenode <nodes> -P setuppostbootscripts'
                  after changing it.
 precreatemypostscripts: (yes/1 or no/0). Default is no. If yes, nodeset and updatenode
                  create each node's mypostscript file in tftpdir.
 setinstallnic:  Set the network configuration for installnic to be static.
 sharedtftp:  Set to 0 or no if tftpdir is not mounted on all Service Nodes. Default
              is 1/yes. A hostname means tftpdir is mounted from that host on the SN.
 sharedinstall: Shared file system for installation resources: 'no', 'sns' (across
               all service nodes) or 'all' (MN and service nodes). Default is 'no'.
 xcatconfdir:  Where xCAT config data is (default /etc/xcat).
 xcatdebugmode:  the value of xcat debug mode: 0: off(default); 1: on

 --------------------
REMOTESHELL ATTRIBUTES
 --------------------
 nodesyncfiledir:  The directory on the node, where xdcp will rsync the files
 SNsyncfiledir:  The directory on the Service Node, where xdcp will rsync the files
                 from the MN that will eventually be rsync'd to the compute nodes.
 sshbetweennodes:  Comma separated list of groups of compute nodes to enable
                   passwordless root ssh during install, or xdsh -K. Default is
                   ALLGROUPS; NOGROUPS disables. Not used with the zone table.

 -----------------
SERVICES ATTRIBUTES
 -----------------
 consoleondemand:  When 'yes', conserver creates the console output only when the user
                   opens the console. Default is no on Linux, yes on AIX.
 httpport:    The port of the http server on the MN/SN that booting/installing nodes
              contact (xCAT does not configure the server for it).
 nmapoptions: Additional options appended to the nmap command used by pping,
              nodestat, xdsh -v and updatenode (e.g. '--min-rtt-timeout 1s').
 ntpservers:  A comma delimited list of NTP servers for the service and compute nodes.
              <xcatmaster> means the node's service node or management node.
 extntpservers:  A comma delimited list of external NTP servers for the MN. If empty,
                 the MN's own hardware clock is used.
 svloglocal:  if set to 1, syslog on the service node will not get forwarded to the
              mgmt node.
 timezone:  (e.g. America/New_York)
 tftpdir:  tftp directory path. Default is /tftpboot
 tftpflags:  The flags used to start tftpd. Default is '-v -l -s /tftpboot
             -m /etc/tftpmapfile4xcat.conf'.
 useNmapfromMN:  When yes, nodestat obtains node status using nmap from the management
                 node instead of the service node.
 vsftp:       Default is 'n'. If 'y', xcatd on the MN brings up vsftpd (for service
              nodes set servicenode.ftpserver=1).

 -----------------------
VIRTUALIZATION ATTRIBUTES
 -----------------------
 usexhrm:  Have xCAT run its xHRM script when booting up KVM guests to set the
           virtual network bridge up correctly.
 vcenterautojoin:  When no, the VMWare plugin will not auto remove and add hypervisors.
 vmwarereconfigonpower:  When no, the VMWare plugin will not push vm.cpus/vm.memory
                         updates from xCAT to VMWare.
 persistkvmguests:  Keep the kvm definition on the hypervisor when the guest is powered
                    off. Set anything means enable.

 --------------------
XCAT DAEMON ATTRIBUTES
 --------------------
 useflowcontrol:  (yes/1 or no/0). If yes, postscript processing on each node waits
                  (via UDP) until xcatd is ready; works with xcatmaxconnections and
                  xcatmaxbatchconnections. Not supported on AIX. Default is no.
 xcatmaxconnections:  Number of concurrent xCAT protocol requests before requests
                      begin queueing. Default is 64.
 xcatmaxbatchconnections:  Number of concurrent xCAT connections allowed from the
                      nodes; less than xcatmaxconnections. Default is 50.
 xcatdport:  The port used by the xcatd daemon for client/server communication.
 xcatiport:  The port used by xcatd to receive install status updates from nodes.
 xcatlport:  The port used by xcatd command log writer process to collect command output.
 xcatsslversion:  The ssl version by xcatd. Default is SSLv3.
 xcatsslciphers:  The ssl cipher by xcatd. Default is 3DES.

`
