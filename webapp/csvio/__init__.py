"""CSV in and out: mapping imports and exports, and store catalogs from platform exports."""
