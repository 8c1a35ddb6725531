package demo

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
)

// faceSize is the side of a generated face in pixels.
const faceSize = 64

// glyphs are 5×7 bitmaps of the initials the faces show.
var glyphs = map[byte][7]string{
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".####", "#....", "#....", "#....", "#....", "#....", ".####"},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
}

// face draws a disc in bg with the initial in white on a transparent
// square and returns it as a base64 PNG, the form a card carries.
func face(initial byte, bg color.RGBA) string {
	img := image.NewNRGBA(image.Rect(0, 0, faceSize, faceSize))
	const c, r = faceSize / 2, faceSize/2 - 1
	for y := range faceSize {
		for x := range faceSize {
			dx, dy := x-c, y-c
			if dx*dx+dy*dy <= r*r {
				img.Set(x, y, bg)
			}
		}
	}
	const scale = 6
	g := glyphs[initial]
	x0, y0 := c-5*scale/2, c-7*scale/2
	for row, line := range g {
		for col := range len(line) {
			if line[col] != '#' {
				continue
			}
			for y := range scale {
				for x := range scale {
					img.Set(x0+col*scale+x, y0+row*scale+y, color.White)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic("demo: encode face: " + err.Error()) // cannot fail writing to memory
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}
