package display

import "strings"

// blockRows is the height of the block font.
const blockRows = 5

// blockFont draws the characters Big uses for times, countdowns and masked
// PINs five rows tall, so the time reads from across a site office. '#' is a
// filled cell. Anything not here falls back to bold text.
var blockFont = map[rune][blockRows]string{
	'0': {"####", "#  #", "#  #", "#  #", "####"},
	'1': {" ## ", "  # ", "  # ", "  # ", " ###"},
	'2': {"####", "   #", "####", "#   ", "####"},
	'3': {"####", "   #", " ###", "   #", "####"},
	'4': {"#  #", "#  #", "####", "   #", "   #"},
	'5': {"####", "#   ", "####", "   #", "####"},
	'6': {"####", "#   ", "####", "#  #", "####"},
	'7': {"####", "   #", "  # ", " #  ", " #  "},
	'8': {"####", "#  #", "####", "#  #", "####"},
	'9': {"####", "#  #", "####", "   #", "####"},
	':': {" ", "#", " ", "#", " "},
	'.': {" ", " ", " ", " ", "#"},
	'-': {"    ", "    ", "####", "    ", "    "},
	'_': {"    ", "    ", "    ", "    ", "####"},
	' ': {"  ", "  ", "  ", "  ", "  "},
	'*': {"   ", "# #", " # ", "# #", "   "},
	'•': {"   ", "   ", "###", "   ", "   "},
	'A': {" ## ", "#  #", "####", "#  #", "#  #"},
	'M': {"#   #", "## ##", "# # #", "#   #", "#   #"},
	'P': {"### ", "#  #", "### ", "#   ", "#   "},
}

// blockText renders s in the block font, one string per row, if every
// character of s has a glyph and the result fits in width columns.
func blockText(s string, width int) (rows []string, ok bool) {
	var b [blockRows]strings.Builder
	for i, c := range []rune(strings.ToUpper(s)) {
		g, found := blockFont[c]
		if !found {
			return nil, false
		}
		for r := range blockRows {
			if i > 0 {
				b[r].WriteByte(' ')
			}
			b[r].WriteString(strings.ReplaceAll(g[r], "#", "█"))
		}
	}
	if b[0].Len() == 0 {
		return nil, false
	}
	rows = make([]string, blockRows)
	for r := range rows {
		rows[r] = b[r].String()
		if visibleWidth(rows[r]) > width {
			return nil, false
		}
	}
	return rows, true
}
