"""The names of the box rules the metrics offer: the one registry the CLI and the engine take choices from.

Import-light (no numpy, no torch), so the CLI can list the choices without loading the metrics.

- `BOX_METHODS`: heat map -> box for the ILSVRC localization error (`heatmap_to_box`, `heatmaps_to_boxes`):
  "largest_component", the CAM paper's text (largest 8-connected component above threshold x max), and
  "cam_legacy", the CAM release's dt_box generator (`cam_legacy_box`).
- `BOX_CONVENTIONS`: how MaxBoxAcc turns a thresholded map into boxes (`MaxBoxAccOptions.box_convention`):
  "components" (8-connected components, inclusive boxes) or "wsolevaluation" (that project's OpenCV
  contours, reproduced exactly). The order is the compiled sweep's `wsol` flag.
See docs/metrics.md ("Heat map to box", "MaxBoxAcc box conventions").
"""

BOX_METHODS = ("largest_component", "cam_legacy")
DEFAULT_BOX_METHOD = "largest_component"
BOX_CONVENTIONS = ("components", "wsolevaluation")
