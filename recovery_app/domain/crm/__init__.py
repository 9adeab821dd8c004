"""Two-way sync with the office's GoHighLevel CRM: the office's settings (config), what is
queued for writing back and when (writeback), the job that writes it (sync), and the full
import of the location's existing contacts (importer)."""
