'use strict';
// Mark paid in cash: the change due as the operator types what the student handed over. Delegated
// from the document, as the form is loaded into unfold's modal after the page.
{
    const number = (input) => {
        const value = parseFloat((input && input.value || '').replace(/[\s,]/g, ''));
        return Number.isFinite(value) ? value : null;
    };

    const update = (form) => {
        const out = form.querySelector('[data-change-due]');
        if (!out) {
            return;
        }
        const amount = number(form.querySelector('[data-amount-owed]'));
        const handed = number(form.querySelector('[data-handed-over]'));
        if (amount === null || handed === null) {
            out.textContent = '';
        } else if (handed < amount) {
            out.textContent = 'Less than the amount recorded.';
        } else {
            const change = Math.round((handed - amount) * 100) / 100;
            out.textContent = `Change due: ${change.toLocaleString('en-GB')} ${out.dataset.currency}`;
        }
    };

    document.addEventListener('input', (event) => {
        const form = event.target.closest && event.target.closest('form');
        if (form && event.target.matches('[data-handed-over], [data-amount-owed]')) {
            update(form);
        }
    });
}
