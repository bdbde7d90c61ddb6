package debugpage

import (
	"fmt"
	"html/template"
	"time"
)

// pageData is what the HTML template renders.
type pageData struct {
	Report
	Refresh int
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"age":   formatAge,
	"agep":  formatAgePtr,
	"bytes": formatBytes,
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000 UTC") },
}).Parse(pageHTML))

func formatAge(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < 0:
		return "in " + (-d).Round(time.Millisecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String() + " ago"
	case d < time.Minute:
		return d.Round(100*time.Millisecond).String() + " ago"
	default:
		return d.Round(time.Second).String() + " ago"
	}
}

func formatAgePtr(sec *float64) string {
	if sec == nil {
		return "—"
	}
	return formatAge(*sec)
}

func formatBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	default:
		return fmt.Sprintf("%d B", b)
	}
}

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shoal · {{.Node}}</title>
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.4em 0 .4em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
.meta { color: #666; }
table { border-collapse: collapse; margin: .3em 0 .8em; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-weight: 600; color: #444; }
td.num, th.num { text-align: right; }
code { font-family: ui-monospace, monospace; }
.alive { color: #17803d; font-weight: 600; }
.failed { color: #b42318; font-weight: 600; }
.left { color: #777; font-weight: 600; }
.value { font-size: 1.1em; font-weight: 600; }
.deleted { color: #999; text-decoration: line-through; }
.bad { color: #b42318; font-weight: 600; }
</style>
</head>
<body>
<h1>shoal node <code id="node">{{.Node}}</code></h1>
<div class="meta">replica <code>{{.Replica}}</code>{{if .Addr}} · gossip on <code>{{.Addr}}</code>{{end}} · at {{clock .Time}}{{if .Closed}} · <span class="bad">closed</span>{{end}}{{if .Refresh}} · reloads every {{.Refresh}} s{{end}} · <a href="?format=json">JSON</a></div>

<h2 id="members">Members ({{.Traffic.LiveMembers}} alive of {{len .Members}})</h2>
<table>
<tr><th>name</th><th>address</th><th>incarnation</th><th>state</th><th>since</th></tr>
{{range .Members}}<tr class="member"><td><code>{{.Name}}</code></td><td><code>{{.Addr}}</code></td><td><code>{{.Incarnation}}</code></td><td class="{{.State}}">{{.State}}</td><td>{{age .AgeSeconds}}</td></tr>
{{end}}</table>

<h2 id="values">Shared values ({{len .Values}})</h2>
{{if not .Values}}<p class="meta">No values are registered on this node.</p>{{end}}
{{range .Values}}<section class="shared-value">
<h3><code>{{.Name}}</code> <span class="meta">{{.Type}}</span></h3>
<div>value: <span class="value">{{.Value}}</span></div>
{{if .Replicas}}<table>
<tr><th>replica</th><th>incarnation</th><th>contribution</th><th>updated</th></tr>
{{range .Replicas}}<tr><td><code>{{.Node}}</code></td><td><code>{{.Incarnation}}</code></td><td>{{.Contribution}}</td><td>{{agep .AgeSeconds}}</td></tr>
{{end}}</table>{{end}}
{{if .Entries}}<table>
<tr><th>key</th><th>value</th><th>written by</th><th>updated</th></tr>
{{range .Entries}}<tr{{if .Deleted}} class="deleted"{{end}}><td><code>{{.Key}}</code></td><td>{{if .Deleted}}(deleted){{else}}{{.Value}}{{end}}</td><td><code>{{.Node}}</code></td><td>{{agep .AgeSeconds}}</td></tr>
{{end}}</table>{{if .MoreEntries}}<p class="meta">… and {{.MoreEntries}} more entries not shown.</p>{{end}}{{end}}
</section>
{{end}}

<h2 id="traffic">Traffic</h2>
<table>
<tr><th>kind</th><th class="num">sent</th><th class="num">sent bytes</th><th class="num">received</th><th class="num">received bytes</th></tr>
{{range .Traffic.Kinds}}<tr><td>{{.Kind}}</td><td class="num">{{.SentMessages}}</td><td class="num">{{bytes .SentBytes}}</td><td class="num">{{.ReceivedMessages}}</td><td class="num">{{bytes .ReceivedBytes}}</td></tr>
{{end}}</table>
{{with .Traffic}}<table>
<tr><td>bytes written by the transport (probes and headers included)</td><td class="num">{{bytes .WireBytesSent}}</td></tr>
<tr><td>gossip queue</td><td class="num">{{.BroadcastQueue}}</td></tr>
<tr><td>anti-entropy exchanges (push/pull)</td><td class="num">{{.PushPulls}}</td></tr>
<tr><td>push/pull state sent / received</td><td class="num">{{bytes .PushPullBytesSent}} / {{bytes .PushPullBytesReceived}}</td></tr>
<tr><td>dropped</td><td class="num{{if .Dropped}} bad{{end}}">{{.Dropped}}</td></tr>
<tr><td>decode errors</td><td class="num{{if .DecodeErrors}} bad{{end}}">{{.DecodeErrors}}</td></tr>
<tr><td>transport errors</td><td class="num{{if .TransportErrors}} bad{{end}}">{{.TransportErrors}}</td></tr>
<tr><td>states cut at MaxStateBytes</td><td class="num{{if .StateOverflows}} bad{{end}}">{{.StateOverflows}}</td></tr>
<tr><td>discovery errors</td><td class="num{{if .DiscoveryErrors}} bad{{end}}">{{.DiscoveryErrors}}</td></tr>
<tr><td>values held for names not registered here</td><td class="num">{{.PendingValues}}</td></tr>
<tr><td>deltas held until their origin is announced</td><td class="num">{{.EarlyDeltas}}</td></tr>
</table>{{end}}
</body>
</html>
`
