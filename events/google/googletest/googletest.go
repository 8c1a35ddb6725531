// Package googletest holds Google location history files in the shapes
// Google writes them, for tests and benchmarks: one small file of each
// format, and a writer that streams a Records.json of any size. Imported
// from _test.go files only.
package googletest

import (
	"bufio"
	"io"
	"strconv"
	"time"
)

// Records is a Records.json as Takeout writes it (two-space indent, the
// "timestamp" of 2022 on): a full GPS record, a Wi-Fi one, the same
// position again 0.6 s later, a record of an old export (timestampMs,
// "activitys", a negative longitude written as an unsigned 32-bit
// number, another device), one with a latitude out of range and one
// without a time. It yields 3 locations, 1 duplicate, 1 bad coordinates,
// 1 no time.
const Records = `{
  "locations": [{
    "latitudeE7": 508503000,
    "longitudeE7": 43517000,
    "accuracy": 14,
    "velocity": 5,
    "heading": 270,
    "altitude": 56,
    "verticalAccuracy": 3,
    "activity": [{
      "activity": [{
        "type": "WALKING",
        "confidence": 81
      }, {
        "type": "ON_FOOT",
        "confidence": 81
      }, {
        "type": "STILL",
        "confidence": 10
      }],
      "timestamp": "2022-01-12T17:18:20.001Z"
    }],
    "source": "GPS",
    "deviceTag": 1234567890,
    "platformType": "ANDROID",
    "timestamp": "2022-01-12T17:18:24.190Z"
  }, {
    "latitudeE7": 508510000,
    "longitudeE7": 43525000,
    "accuracy": 20,
    "source": "WIFI",
    "deviceTag": 1234567890,
    "platformType": "ANDROID",
    "osLevel": 33,
    "serverTimestamp": "2022-01-12T17:20:00.011Z",
    "deviceTimestamp": "2022-01-12T17:19:59.500Z",
    "batteryCharging": false,
    "formFactor": "PHONE",
    "timestamp": "2022-01-12T17:19:30Z"
  }, {
    "latitudeE7": 508510000,
    "longitudeE7": 43525000,
    "accuracy": 18,
    "source": "WIFI",
    "deviceTag": 1234567890,
    "platformType": "ANDROID",
    "timestamp": "2022-01-12T17:19:30.600Z"
  }, {
    "timestampMs" : "1408910152294",
    "latitudeE7" : 515072000,
    "longitudeE7" : 4293691296,
    "accuracy" : 26,
    "deviceTag" : 99,
    "activitys" : [ {
      "timestampMs" : "1408910091630",
      "activities" : [ {
        "type" : "still",
        "confidence" : 100
      } ]
    } ]
  }, {
    "latitudeE7": 1800000000,
    "longitudeE7": 43517000,
    "accuracy": 3000,
    "timestamp": "2022-01-12T18:00:00Z"
  }, {
    "latitudeE7": 508503000,
    "longitudeE7": 43517000,
    "accuracy": 10
  }]
}
`

// Semantic is a Semantic Location History month (2022_MARCH.json): a bus
// ride with its waypoints and raw path, a visit to a place, a visit of an
// old export (timestampMs, a hostile place name) and a walk of a 2013
// export whose start and end carry no position. It yields 12 events, 2 of
// them visits, with 2 duplicates and 2 without coordinates.
const Semantic = `{
  "timelineObjects": [
    {
      "activitySegment": {
        "startLocation": {
          "latitudeE7": 508503000,
          "longitudeE7": 43517000,
          "sourceInfo": {
            "deviceTag": 1234567890
          }
        },
        "endLocation": {
          "latitudeE7": 508466000,
          "longitudeE7": 43524000,
          "sourceInfo": {
            "deviceTag": 1234567890
          }
        },
        "duration": {
          "startTimestamp": "2022-03-03T12:22:24Z",
          "endTimestamp": "2022-03-03T12:43:34Z"
        },
        "distance": 2640,
        "activityType": "IN_BUS",
        "confidence": "HIGH",
        "activities": [
          {
            "activityType": "IN_BUS",
            "probability": 85.6847882270813
          },
          {
            "activityType": "WALKING",
            "probability": 8.418431878089905
          }
        ],
        "waypointPath": {
          "waypoints": [
            {
              "latE7": 508503000,
              "lngE7": 43517000
            },
            {
              "latE7": 508480000,
              "lngE7": 43520000
            },
            {
              "latE7": 508466000,
              "lngE7": 43524000
            }
          ],
          "source": "INFERRED",
          "roadSegment": [
            {
              "placeId": "ChIJr2jXUnzEw0cRe-SeZTSbwC4",
              "duration": "1s"
            }
          ],
          "distanceMeters": 2563.4,
          "travelMode": "DRIVE",
          "confidence": 0.9613
        },
        "simplifiedRawPath": {
          "points": [
            {
              "latE7": 508490000,
              "lngE7": 43519000,
              "accuracyMeters": 10,
              "timestamp": "2022-03-03T12:30:00Z"
            }
          ]
        },
        "editConfirmationStatus": "NOT_CONFIRMED"
      }
    },
    {
      "placeVisit": {
        "location": {
          "latitudeE7": 508466000,
          "longitudeE7": 43524000,
          "placeId": "ChIJ9WkUnjXEw0cRqiOQ3bGPy-A",
          "address": "Grand-Place, 1000 Bruxelles, Belgium",
          "name": "Grand-Place",
          "sourceInfo": {
            "deviceTag": 1234567890
          },
          "locationConfidence": 93.1,
          "calibratedProbability": 80.2
        },
        "duration": {
          "startTimestamp": "2022-03-03T12:43:34Z",
          "endTimestamp": "2022-03-03T14:05:10.500Z"
        },
        "placeConfidence": "HIGH_CONFIDENCE",
        "centerLatE7": 508466500,
        "centerLngE7": 43524500,
        "visitConfidence": 88,
        "otherCandidateLocations": [
          {
            "latitudeE7": 508470000,
            "longitudeE7": 43530000,
            "placeId": "ChIJ-other",
            "locationConfidence": 3.2
          }
        ],
        "editConfirmationStatus": "NOT_CONFIRMED",
        "locationConfidence": 93,
        "placeVisitType": "SINGLE_PLACE",
        "placeVisitImportance": "MAIN"
      }
    },
    {
      "placeVisit": {
        "location": {
          "latitudeE7": 515072000,
          "longitudeE7": -1276000,
          "placeId": "ChIJ<script>",
          "address": "1 \"Quote\" Street\nLondon",
          "name": "<script>alert(1)</script> Café"
        },
        "duration": {
          "startTimestampMs": "1459000000000",
          "endTimestampMs": "1459003600000"
        },
        "placeConfidence": "MEDIUM_CONFIDENCE"
      }
    },
    {
      "activitySegment": {
        "startLocation": {},
        "endLocation": {},
        "duration": {
          "startTimestamp": "2013-12-01T07:05:14.222Z",
          "endTimestamp": "2013-12-01T07:11:13.214Z"
        },
        "confidence": "LOW",
        "activities": [
          {
            "activityType": "WALKING",
            "probability": 0.0
          }
        ],
        "waypointPath": {
          "waypoints": [
            {
              "latE7": 533407440,
              "lngE7": 837026901
            },
            {
              "latE7": 533410301,
              "lngE7": 837051010
            }
          ],
          "source": "BACKFILLED",
          "distanceMeters": 209.65263509609417,
          "travelMode": "WALK",
          "confidence": 1.0
        },
        "editConfirmationStatus": "NOT_CONFIRMED"
      }
    }
  ]
}
`

// Android is a Timeline.json exported on an Android phone (2024 on): a
// timeline path, a visit, a walk, a path with a bad position and one
// without a time; raw signals with a position, an activity record and a
// Wi-Fi scan; the user's frequent places. It yields 7 events (1 visit),
// with 1 duplicate, 1 bad coordinates and 1 no time.
const Android = `{
  "semanticSegments": [
    {
      "startTime": "2024-04-03T08:00:00.000+02:00",
      "endTime": "2024-04-03T10:00:00.000+02:00",
      "timelinePath": [
        {
          "point": "50.8503000°, 4.3517000°",
          "time": "2024-04-03T08:14:00.000+02:00"
        },
        {
          "point": "50.8466000°, 4.3524000°",
          "time": "2024-04-03T08:46:00.000+02:00"
        }
      ]
    },
    {
      "startTime": "2024-04-03T08:50:00.000+02:00",
      "endTime": "2024-04-03T12:10:18.000+02:00",
      "startTimeTimezoneUtcOffsetMinutes": 120,
      "endTimeTimezoneUtcOffsetMinutes": 120,
      "visit": {
        "hierarchyLevel": 0,
        "probability": 0.8500000238418579,
        "topCandidate": {
          "placeId": "ChIJ9WkUnjXEw0cRqiOQ3bGPy-A",
          "semanticType": "WORK",
          "probability": 0.44970497488975525,
          "placeLocation": {
            "latLng": "50.8466000°, 4.3524000°"
          }
        }
      }
    },
    {
      "startTime": "2024-04-03T12:10:18.000+02:00",
      "endTime": "2024-04-03T12:40:00.000+02:00",
      "startTimeTimezoneUtcOffsetMinutes": 120,
      "endTimeTimezoneUtcOffsetMinutes": 120,
      "activity": {
        "start": {
          "latLng": "50.8466000°, 4.3524000°"
        },
        "end": {
          "latLng": "50.8503000°, 4.3517000°"
        },
        "distanceMeters": 612.5,
        "probability": 0.9700000286102295,
        "topCandidate": {
          "type": "WALKING",
          "probability": 0.9001
        }
      }
    },
    {
      "startTime": "2024-04-03T14:00:00.000+02:00",
      "endTime": "2024-04-03T16:00:00.000+02:00",
      "timelinePath": [
        {
          "point": "95.0000000°, 4.3517000°",
          "time": "2024-04-03T14:10:00.000+02:00"
        },
        {
          "point": "50.8503000°, 4.3517000°"
        }
      ]
    }
  ],
  "rawSignals": [
    {
      "position": {
        "LatLng": "50.8504000°, 4.3518000°",
        "accuracyMeters": 13,
        "altitudeMeters": 77.6,
        "source": "WIFI",
        "timestamp": "2024-04-03T08:14:05.000+02:00",
        "speedMetersPerSecond": 1.25
      }
    },
    {
      "activityRecord": {
        "probableActivities": [
          {
            "type": "STILL",
            "confidence": 0.9599999785423279
          }
        ],
        "timestamp": "2024-04-03T08:15:00.000+02:00"
      }
    },
    {
      "wifiScan": {
        "deliveryTime": "2024-04-03T08:16:00.000+02:00",
        "devicesRecords": [
          {
            "mac": 123456789012345,
            "rawRssi": -60
          }
        ]
      }
    }
  ],
  "userLocationProfile": {
    "frequentPlaces": [
      {
        "placeId": "ChIJ9WkUnjXEw0cRqiOQ3bGPy-A",
        "placeLocation": "50.8466000°, 4.3524000°",
        "label": "WORK"
      }
    ],
    "persona": {
      "travelModeAffinities": [
        {
          "mode": "WALKING",
          "affinity": 0.6
        }
      ]
    }
  }
}
`

// IOS is a location-history.json exported on an iPhone: a top-level
// array of segments, numbers as strings, positions as geo: URIs, path
// points timed as minutes after the segment's start. It yields 6 events
// (1 visit), with 2 duplicates and 1 trip summary left out.
const IOS = `[
  {
    "endTime" : "2023-08-27T17:04:26.999-05:00",
    "startTime" : "2023-08-27T15:48:56.000-05:00",
    "visit" : {
      "hierarchyLevel" : "0",
      "topCandidate" : {
        "probability" : "0.785181",
        "semanticType" : "Unknown",
        "placeID" : "ChIJxxP_Qwb2aIYRTwDNDLkUmD0",
        "placeLocation" : "geo:27.720022,-97.347951"
      },
      "probability" : "0.710000"
    }
  },
  {
    "endTime" : "2023-08-27T19:00:00.000-05:00",
    "startTime" : "2023-08-27T17:04:26.999-05:00",
    "activity" : {
      "probability" : "0.931000",
      "end" : "geo:27.687173,-97.363743",
      "topCandidate" : {
        "type" : "in passenger vehicle",
        "probability" : "0.880000"
      },
      "distanceMeters" : "4170.500000",
      "start" : "geo:27.720022,-97.347951"
    }
  },
  {
    "endTime" : "2023-08-27T22:00:00.000Z",
    "startTime" : "2023-08-27T20:00:00.000Z",
    "timelinePath" : [
      {
        "point" : "geo:27.720007,-97.348044",
        "durationMinutesOffsetFromStartTime" : "49"
      },
      {
        "point" : "geo:27.720007,-97.348044",
        "durationMinutesOffsetFromStartTime" : "49"
      },
      {
        "point" : "geo:27.701123,-97.362988",
        "durationMinutesOffsetFromStartTime" : "64"
      }
    ]
  },
  {
    "endTime" : "2023-09-02T23:25:59.000-06:00",
    "startTime" : "2023-08-27T14:48:56.000-06:00",
    "timelineMemory" : {
      "destinations" : [
        {
          "identifier" : "ChIJs9KSYYBfaIYRj5AOiZNQ0a4"
        }
      ],
      "distanceFromOriginKms" : "1594"
    }
  }
]
`

// WriteRecords streams a Records.json of n locations in Takeout's shape
// to w: one every 10 s from start, a walk around Brussels, every third
// with an activity record, and returns the bytes written. It holds
// nothing but one record at a time, so it writes files of any size.
func WriteRecords(w io.Writer, n int, start time.Time) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 256<<10)
	_, _ = bw.WriteString("{\n  \"locations\": [")
	b := make([]byte, 0, 1024)
	for i := range n {
		at := start.Add(time.Duration(i) * 10 * time.Second)
		b = b[:0]
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "{\n    \"latitudeE7\": "...)
		b = strconv.AppendInt(b, 508503000+int64(i%5000)*37, 10)
		b = append(b, ",\n    \"longitudeE7\": "...)
		b = strconv.AppendInt(b, 43517000+int64(i%7919)*23, 10)
		b = append(b, ",\n    \"accuracy\": "...)
		b = strconv.AppendInt(b, int64(5+i%40), 10)
		if i%2 == 0 {
			b = append(b, ",\n    \"velocity\": "...)
			b = strconv.AppendInt(b, int64(i%14), 10)
			b = append(b, ",\n    \"heading\": "...)
			b = strconv.AppendInt(b, int64(i%360), 10)
			b = append(b, ",\n    \"altitude\": "...)
			b = strconv.AppendInt(b, int64(50+i%30), 10)
			b = append(b, ",\n    \"verticalAccuracy\": 4"...)
		}
		if i%3 == 0 {
			b = append(b, ",\n    \"activity\": [{\n      \"activity\": [{\n        \"type\": \"WALKING\",\n        \"confidence\": 71\n      }, {\n        \"type\": \"ON_FOOT\",\n        \"confidence\": 71\n      }, {\n        \"type\": \"STILL\",\n        \"confidence\": 20\n      }],\n      \"timestamp\": \""...)
			b = at.Add(-2*time.Second).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, "\"\n    }]"...)
		}
		b = append(b, ",\n    \"source\": \"WIFI\",\n    \"deviceTag\": 1234567890,\n    \"platformType\": \"ANDROID\",\n    \"timestamp\": \""...)
		b = at.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, "\"\n  }"...)
		if _, err := bw.Write(b); err != nil {
			return cw.n, err
		}
	}
	_, _ = bw.WriteString("]\n}\n")
	err := bw.Flush()
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
