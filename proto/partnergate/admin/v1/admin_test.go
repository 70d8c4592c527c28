// Test strategy: the wire contract is what keeps a secret from leaking
// through a listing, so the messages that describe keys and audit events
// are checked by reflection for any field that could carry secret material,
// and the secret field exists only on the responses that show it once and
// the one request that reports leaked keys.
package adminv1_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	adminv1 "github.com/partnergate/partnergate/proto/partnergate/admin/v1"
)

func TestNoSecretFields(t *testing.T) {
	forbidden := []string{"secret", "digest", "hash", "pepper", "token", "password"}
	allowed := map[protoreflect.FullName]bool{
		"partnergate.admin.v1.IssueKeyResponse.secret":  true,
		"partnergate.admin.v1.RotateKeyResponse.secret": true,
		// An operator's personal token, shown once.
		"partnergate.admin.v1.CreateOperatorResponse.secret": true,
		"partnergate.admin.v1.RotateOperatorResponse.secret": true,
		// Keys found published, sent in so the server can tell a leaked
		// key from a look-alike of its id; no response carries them.
		"partnergate.admin.v1.ReportLeakedKeysRequest.tokens": true,
	}
	// Names that contain a forbidden word but hold no secret: the number
	// of the pepper a key's digest was made with, never the pepper.
	notSecret := map[protoreflect.FullName]bool{
		"partnergate.admin.v1.Key.pepper_version":             true,
		"partnergate.admin.v1.FindKeysRequest.pepper_version": true,
	}
	msgs := adminv1.File_partnergate_admin_v1_admin_proto.Messages()
	var seen int
	for i := range msgs.Len() {
		fields := msgs.Get(i).Fields()
		for j := range fields.Len() {
			f := fields.Get(j)
			for _, word := range forbidden {
				if strings.Contains(string(f.Name()), word) && !allowed[f.FullName()] && !notSecret[f.FullName()] {
					t.Errorf("field %s may carry secret material", f.FullName())
				}
			}
			if allowed[f.FullName()] {
				seen++
			}
			if notSecret[f.FullName()] && f.Kind() != protoreflect.Int32Kind {
				t.Errorf("field %s is exempt as a version number but is a %s", f.FullName(), f.Kind())
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("found %d of the %d secret fields the API is meant to have", seen, len(allowed))
	}
}
