'use strict';
// The add-booking form's session picker sends the chosen student (?student=<id>), so it offers only
// what the booking rules accept for that student. Django's autocomplete.js has started select2
// already (its ready handler ran first); it is started again here with the extra parameter.
{
    const $ = django.jQuery;

    $(() => {
        const session = $('select[data-picker="session"]');
        if (!session.length) {
            return;
        }
        if (session.hasClass('select2-hidden-accessible')) {
            session.select2('destroy');
        }
        session.select2({
            ajax: {
                data: (params) => ({
                    term: params.term,
                    page: params.page,
                    student: $('select[data-picker="student"]').val() || '',
                }),
            },
        });
    });
}
