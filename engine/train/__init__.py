"""Training: distil VToonify-T / VToonify-D from their StyleGAN teachers (paper Sec. 4, `engine train`)."""
