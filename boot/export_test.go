package boot

// LoadTableDir is loadTableDir for the external tests (package boot_test).
var LoadTableDir = loadTableDir
