"""Getting found networks out: standalone modules (export, inline), int8 modules, ONNX, final
training with a full recipe, and compound scaling into a model family."""
