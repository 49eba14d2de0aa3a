DROP TABLE page_notice_sent;
DROP TABLE page_notice;
DROP TABLE page_subscriber;
ALTER TABLE status_page DROP COLUMN subscriptions;
