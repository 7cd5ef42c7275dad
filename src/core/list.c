#include "core.h"

void kin__list_init(kin__link *head)
{
	head->prev = head->next = head;
}

void kin__list_add(kin__link *head, kin__link *node)
{
	node->next = head->next;
	node->prev = head;
	head->next->prev = node;
	head->next = node;
}

void kin__list_del(kin__link *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}
