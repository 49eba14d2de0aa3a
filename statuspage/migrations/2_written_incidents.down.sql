DROP TABLE page_incident_update;
DROP TABLE page_incident;
