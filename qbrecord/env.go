package qbrecord

import "os"

// RecordEnv is the environment variable that makes ForTest record: run the
// tests once with QBRECORD=record against the real services.
const RecordEnv = "QBRECORD"

func envRecord() string { return os.Getenv(RecordEnv) }
