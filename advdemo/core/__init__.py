"""Core: what every subject shares and nothing in it knows of models or Gradio: errors, the
single door for images, files handed to browsers, presets."""
