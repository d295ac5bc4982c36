"""Private compiled kernels behind `gwapbench.metrics` (not public API: import the metrics instead).

- `union_find`: the one union-find (path halving) every component kernel uses;
- `component_boxes`: the largest 8-connected component's box of a mask, given as pixels or as row runs;
- `upsampled_boxes`: that box for maps bilinearly upsampled by torch, without building them
  (`heatmaps_to_boxes` with image sizes);
- `threshold_sweep`: the best box IoU at every CAM threshold of a map in one sweep (MaxBoxAcc);
- `gray_runs`, `legacy_dt`, `contour_rects`: the CAM release's dt_box generator (`cam_legacy`).
"""
