package nfsd

// BigTurnsInUse is how many turns of big work are taken (bufpool.go), for tests.
func BigTurnsInUse() int { return len(bigTurns) }

// BigTurnsMax is how many there are.
func BigTurnsMax() int { return cap(bigTurns) }
