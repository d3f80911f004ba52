'use strict';
// The receipt's "Print" button (a file: the CSP runs no inline script).
document.addEventListener('click', (event) => {
    if (event.target.closest('[data-print]')) {
        window.print();
    }
});
