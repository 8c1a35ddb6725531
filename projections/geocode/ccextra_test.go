package geocode

// ccExtra names the ISO 3166-1 alpha-2 code of world-atlas shapes inside
// which no GeoNames town of 1000 people lies (the town's point falls just
// outside a coarse coast, or there is none), so that the vote in
// TestCountryCodeTable cannot find it. Disputed shapes with no code of
// their own (Siachen Glacier, Spratly Is., Scarborough Reef, …) stay
// without one: the answer names the shape and no code.
var ccExtra = map[string]string{
	"W. Sahara":                 "EH",
	"Gibraltar":                 "GI",
	"Vatican":                   "VA",
	"Greenland":                 "GL",
	"U.S. Minor Outlying Is.":   "UM",
	"Heard I. and McDonald Is.": "HM",
	"Jersey":                    "JE",
	"Br. Indian Ocean Ter.":     "IO",
	"Tuvalu":                    "TV",
	"Coral Sea Is.":             "AU",
	"USNB Guantanamo Bay":       "CU",
}
