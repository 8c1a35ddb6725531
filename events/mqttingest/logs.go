package mqttingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// RouteLogs sends paho's CRITICAL and ERROR messages to logger at Error
// and its WARN messages at Warn, tagged component=paho; DEBUG stays off.
// paho keeps its loggers in package variables shared by every client in
// the process, so main calls this once at startup, before any client is
// created; New never touches them.
func RouteLogs(logger *slog.Logger) {
	l := logger.With("component", "paho")
	mqtt.CRITICAL = pahoLogger{l, slog.LevelError}
	mqtt.ERROR = pahoLogger{l, slog.LevelError}
	mqtt.WARN = pahoLogger{l, slog.LevelWarn}
}

// pahoLogger adapts slog to paho's Println/Printf Logger.
type pahoLogger struct {
	l     *slog.Logger
	level slog.Level
}

func (p pahoLogger) Println(v ...any) {
	p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintln(v...)))
}

func (p pahoLogger) Printf(format string, v ...any) {
	p.l.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
