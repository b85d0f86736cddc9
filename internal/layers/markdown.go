package layers

import "strings"

// Markdown renders t as the README's rule table.
func Markdown(t Table) string {
	var b strings.Builder
	b.WriteString("| event | when (all hold) | layer | why |\n|---|---|---|---|\n")
	for i := range t {
		r := &t[i]
		b.WriteString("| `" + r.Event + "` | ")
		if len(r.When) == 0 {
			b.WriteString("—")
		}
		for j := range r.When {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.When[j].Text())
		}
		if r.OverRecord {
			b.WriteString(" (even over the record's own layer)")
		}
		b.WriteString(" | " + r.Layer + " | " + r.Why + " |\n")
	}
	return b.String()
}
