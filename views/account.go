package views

import "time"

// ConnectPage is the model of /connect: pick a device name and a mode;
// after the form is sent, the configuration made for it (once).
type ConnectPage struct {
	Page
	Device, Mode, TID string // the form's values
	// MQTT is false when phones cannot use MQTT with this server (an
	// external broker does not know device credentials).
	MQTT bool
	// Warning says why the configuration may not reach the server from a
	// phone (a broker on loopback only); shown beside the modes.
	Warning string
	Message string // why the last attempt failed
	// Made is the configuration just made; nil before the form is sent.
	Made *PhoneConfig
	// Devices are the viewer's phone credentials.
	Devices []DeviceRow
	// NoAccount: open mode (no user exists), so there is nobody to make a
	// credential for.
	NoAccount bool
}

// PhoneConfig is an OwnTracks configuration made for one phone, in the
// forms a phone takes it.
type PhoneConfig struct {
	Device, Mode string
	Summary      []ConfigField // what the configuration says, the secret included
	QR           string        // data: URL of the QR code (PNG) of Link
	QRSize       int           // its width and height in pixels (whole pixels per module)
	Link         string        // owntracks:///config?inline=…
	OTRC         string        // data: URL of the .otrc file
	OTRCName     string        // its file name
}

// ConfigField is one line of a configuration's summary.
type ConfigField struct{ Name, Value string }

// DeviceRow is one phone credential on /connect and /me.
type DeviceRow struct {
	Device, Credential, Mode string
	Created, LastUse         time.Time // LastUse zero: not since the server started
}

// MePage is the model of /me: the viewer's own account.
type MePage struct {
	Page
	Admin       bool
	Zone        string // the stored zone, "" for the browser's
	BrowserZone string // the zone the browser reports (tz cookie), "" when unknown
	Devices     []DeviceRow
	Done        string // what the last action did, shown once
	Message     string // why the last action failed
	NoAccount   bool   // open mode
}
