"""Certificates: the municipal registers, signed PDF documents, delivery and コンビニ交付 kiosks (issue 19)."""
