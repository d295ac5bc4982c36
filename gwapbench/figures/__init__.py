"""The paper's figures, drawn from stored predictions only.

Each figure is first computed as a `FigureLayout` (layout.py: per image, the panels with the map
drawn, its colour scale, the boxes, the Otsu mask and a note), by voc.py (Fig. 7), ilsvrc.py
(Fig. 8) and detection.py (Fig. 9) with the functions the tables use; render.py, the one module
that imports matplotlib, draws a layout. Colour: every map is shown min-max normalized to [0, 1]
(the heat map of the paper's section IV-B, the input of Otsu's threshold and of the normalized box
rule) on one colour range, [0, 1], with one colorbar per map kind; each panel's note gives the raw
map's min/max, so a nearly flat map (min/max near 1) is visible as such.
"""
