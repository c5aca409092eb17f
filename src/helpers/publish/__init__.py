"""Publishers: self-contained HTML (nbconvert), PDF (pandoc + Typst), Quarto, portal."""
