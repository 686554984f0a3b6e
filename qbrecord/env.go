package qbrecord

import (
	"os"
	"strings"
)

// RecordEnv is the environment variable that makes qbrecordtest.ForTest
// record: run the tests once with QBRECORD=record against the real
// services.
const RecordEnv = "QBRECORD"

// ModeFromEnv is Record when RecordEnv is "record" (any case), else
// Replay: tests replay unless asked to record.
func ModeFromEnv() Mode {
	if strings.EqualFold(os.Getenv(RecordEnv), "record") {
		return Record
	}
	return Replay
}
