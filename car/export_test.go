package car

// SetMaxQueryBytes lowers the bound of Query for a test and returns the
// function that restores it.
func SetMaxQueryBytes(n int64) func() {
	old := maxQueryBytes
	maxQueryBytes = n
	return func() { maxQueryBytes = old }
}
